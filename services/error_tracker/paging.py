"""Opaque page tokens for keyset pagination, newest first.

A token holds the sort key of the last row of a page: its time and its id.
The next page starts strictly after it, so rows written meanwhile neither
shift nor repeat the pages that follow.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.errors import InvalidValue

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PageKey:
    """The sort key of the last row of a page."""

    at: datetime
    row_id: uuid.UUID


def encode(key: PageKey) -> str:
    """Return the page token that continues after `key`."""
    raw = json.dumps([key.at.isoformat(), str(key.row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> PageKey | None:
    """Return the key a page token holds; None for no token."""
    if not token:
        return None
    refused = InvalidValue("the page token is not one this service gave")
    try:
        padded = token + "=" * (-len(token) % 4)
        at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        # A forged token may hold anything where the two strings belong.
        if not isinstance(at, str) or not isinstance(row_id, str):
            raise refused
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise refused
        # In UTC, as the service writes it: an offset may push it out of range.
        return PageKey(moment.astimezone(UTC), uuid.UUID(row_id))
    except (ValueError, TypeError, OverflowError, binascii.Error) as error:
        raise refused from error


def page_size(limit: int) -> int:
    """Return the page size a request asks for: 1..1000, 0 for the default."""
    if limit == 0:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidValue(f"limit must be between 1 and {MAX_LIMIT}")
    return limit
