"""JSON of the admin API: optional request bodies in, plain JSON out.

Times are RFC 3339 with an offset, in and out. Errors are the gateway's SCIM
errors, rendered by its one handler.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.body import check_content_type, parse_object, read_body
from services.common.errors import InvalidValue

# Secrets are in some answers; no answer of the admin API is worth caching.
NO_STORE = {"Cache-Control": "no-store"}
MAX_SECONDS = 10 * 365 * 24 * 3600
# Characters that move or hide what a terminal or a page shows next: a name
# holding them would print as another name in `scimctl` and the audit log.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


async def optional_object(request: Request) -> dict[str, Any]:
    """Return the JSON object in the body, or an empty one for an empty body."""
    raw = await read_body(request)
    if not raw.strip():
        return {}
    check_content_type(request.headers.get("content-type"))
    return parse_object(raw)


def text_field(body: dict[str, Any], name: str, *, default: str = "") -> str:
    """Return a string member of `body`, or `default` when it is absent."""
    value = body.get(name, default)
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be a string")
    if any(_is_control(character) for character in value):
        raise InvalidValue(f"{name} must not hold control characters")
    return value


def _is_control(character: str) -> bool:
    return unicodedata.category(character) == "Cc" or character in _BIDI_CONTROLS


def seconds_field(body: dict[str, Any], name: str) -> int | None:
    """Return a non-negative whole number of seconds, or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValue(f"{name} must be a whole number of seconds")
    if not 0 <= value <= MAX_SECONDS:
        raise InvalidValue(f"{name} must be 0 to {MAX_SECONDS}")
    return value


def moment_field(body: dict[str, Any], name: str) -> datetime | None:
    """Return an RFC 3339 time with its offset, or None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be an RFC 3339 time or null")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{name} must be an RFC 3339 time or null") from None
    if moment.tzinfo is None:
        raise InvalidValue(f"{name} needs an offset, such as Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+14:00 is a valid time whose UTC is before year 1.
        raise InvalidValue(f"{name} is out of range once in UTC") from None


def expiry_of(body: dict[str, Any]) -> tuple[bool, datetime | None]:
    """Read `expires_at` (a time, or null for never) or `expires_in_seconds`.

    Returns whether the body sets an expiry at all, and the time it sets.
    """
    if "expires_at" in body and "expires_in_seconds" in body:
        raise InvalidValue("send expires_at or expires_in_seconds, not both")
    if "expires_in_seconds" in body:
        seconds = seconds_field(body, "expires_in_seconds")
        if seconds is None:
            raise InvalidValue("expires_in_seconds must be a whole number")
        return True, datetime.now(UTC) + timedelta(seconds=seconds)
    if "expires_at" in body:
        return True, moment_field(body, "expires_at")
    return False, None


def iso(message: Any, field: str) -> str | None:
    """Return a Timestamp field as RFC 3339 in UTC, or None when it is unset."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return str(stamp.ToJsonString())


def admin_response(body: dict[str, Any], *, status_code: int = 200) -> JSONResponse:
    """Return an admin API answer, never to be cached."""
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)
