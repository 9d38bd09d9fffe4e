"""Resource versions as weak entity tags (RFC 7644 §3.14)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header

from services.common.errors import PreconditionFailed

_ETAG = re.compile(r'(?:W/)?"(\d{1,18})"')


def weak_etag(version: int) -> str:
    """Return the ETag of a resource version: `W/"<version>"`."""
    return f'W/"{version}"'


def parse_if_match(header: str | None) -> int:
    """Return the version an If-Match header expects; 0 when it names none."""
    if header is None or header.strip() in ("", "*"):
        return 0
    match = _ETAG.fullmatch(header.strip())
    if match is None:
        # RFC 9110 §13.1.1: a tag that names no version of ours cannot match.
        raise PreconditionFailed('If-Match must name one version, as W/"<version>"')
    return int(match.group(1))


def expected_version(
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> int:
    """Read the version a write expects from If-Match."""
    return parse_if_match(if_match)


ExpectedVersion = Annotated[int, Depends(expected_version)]
