"""Values compared in SCIM filters: text PostgreSQL can take as a parameter."""

from __future__ import annotations

from typing import Any

from services.common.documents import check_text
from services.common.errors import InvalidFilter, InvalidValue


def check_compared_value(value: Any) -> None:
    """Refuse a compared string no query can carry, as an invalid filter.

    A filter's strings are JSON strings (RFC 7644 §3.4.2.2): `"\\u0000"` and a
    lone `"\\ud800"` decode to text PostgreSQL refuses.
    """
    if not isinstance(value, str):
        return
    try:
        check_text(value, what="a compared value")
    except InvalidValue as error:
        raise InvalidFilter(error.detail) from None
