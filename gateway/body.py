"""Request bodies: a JSON object in UTF-8, typed as SCIM or plain JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from gateway.errors import ContentTooLarge, UnsupportedMediaType
from services.common.documents import load_object
from services.common.errors import InvalidSyntax

# RFC 7644 §3.1: SCIM clients send application/scim+json; §3.8 asks servers
# to take application/json as well.
ACCEPTED_MEDIA_TYPES = frozenset({"application/scim+json", "application/json"})

# A SCIM User or PatchOp is a few kilobytes; Bulk has a limit of its own
# (`bulk_max_payload_bytes`).
MAX_BODY_BYTES = 1024 * 1024


def check_content_type(content_type: str | None) -> None:
    """Refuse a body whose declared type is not JSON in UTF-8.

    A body without a Content-Type is read as JSON: some IdP clients omit it.
    """
    if content_type is None or not content_type.strip():
        return

    media_type, *params = (part.strip() for part in content_type.split(";"))
    if media_type.lower() not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType(
            "Content-Type must be application/scim+json or application/json"
        )

    # RFC 7644 §8.1: SCIM is encoded in UTF-8, and only in UTF-8.
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType("charset must be utf-8")


def parse_object(raw: bytes) -> dict[str, Any]:
    """Return the JSON object in `raw`, or raise `InvalidSyntax` or `InvalidValue`."""
    if not raw.strip():
        raise InvalidSyntax("request body is empty")
    try:
        # RFC 8259 §8.1: a parser may ignore a byte order mark, and some
        # clients (.NET's among them) send one.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSyntax("request body is not valid UTF-8") from exc
    return load_object(text, what="request body")


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return the request body, refusing one over `limit` bytes unread."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ContentTooLarge(f"request body is over {limit} bytes")

    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ContentTooLarge(f"request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_object_body(request: Request) -> dict[str, Any]:
    """Read the request body as one JSON object."""
    check_content_type(request.headers.get("content-type"))
    return parse_object(await read_body(request))


JsonObject = Annotated[dict[str, Any], Depends(json_object_body)]
