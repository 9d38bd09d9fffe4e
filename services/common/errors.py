"""SCIM errors shared by the services and the gateway (RFC 7644 §3.12).

A service raises a `ScimError`; the gRPC edge turns it into a status with the
SCIM status and `scimType` in trailing metadata; the gateway turns that back
into a SCIM Error body. One class per `scimType`.
"""

from __future__ import annotations

from typing import ClassVar

import grpc

SCIM_STATUS_KEY = "scim-status"
SCIM_TYPE_KEY = "scim-type"


# A detail travels from a service to the gateway in gRPC trailers, which hold
# 16 KiB (a non-ASCII character takes up to 9 bytes there, percent-encoded):
# client text is quoted in a detail at most MAX_SHOWN characters long, and no
# detail is longer than MAX_DETAIL, so that no error becomes a 500 on the way.
MAX_SHOWN = 128
MAX_DETAIL = 1024


def clipped(value: object, *, limit: int = MAX_SHOWN) -> str:
    """Return `value` as text of at most `limit` characters, cut with "..."."""
    text = str(value)
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def quoted(value: object) -> str:
    """Return `repr(value)` cut as `clipped` cuts it."""
    return clipped(repr(value))


class ScimError(Exception):
    """A request the SCIM protocol answers with an Error response."""

    status: ClassVar[int] = 400
    scim_type: ClassVar[str | None] = None

    def __init__(self, detail: str) -> None:
        detail = clipped(detail, limit=MAX_DETAIL)
        super().__init__(detail)
        self.detail = detail


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class Mutability(ScimError):
    scim_type = "mutability"


class TooMany(ScimError):
    scim_type = "tooMany"


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class NotFound(ScimError):
    status = 404


class PreconditionFailed(ScimError):
    status = 412


class Unauthorized(ScimError):
    status = 401


_GRPC_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    503: grpc.StatusCode.UNAVAILABLE,
}


def grpc_code_for(error: ScimError) -> grpc.StatusCode:
    """Return the gRPC status code that carries `error` across a service edge."""
    return _GRPC_CODES.get(error.status, grpc.StatusCode.INVALID_ARGUMENT)


def error_metadata(error: ScimError) -> tuple[tuple[str, str], ...]:
    """Return the trailing metadata that lets the gateway rebuild `error`."""
    return (
        (SCIM_STATUS_KEY, str(error.status)),
        (SCIM_TYPE_KEY, error.scim_type or ""),
    )


def from_rpc_error(error: grpc.aio.AioRpcError) -> ScimError | None:
    """Rebuild the `ScimError` a service raised, or None for other failures."""
    trailers = dict(error.trailing_metadata() or ())
    status = trailers.get(SCIM_STATUS_KEY)
    if status is None:
        return None
    return rebuild_error(
        status=int(status),
        scim_type=trailers.get(SCIM_TYPE_KEY) or None,
        detail=error.details() or "",
    )


def rebuild_error(*, status: int, scim_type: str | None, detail: str) -> ScimError:
    """Return the `ScimError` of the class that has this status and `scimType`."""
    for cls in _ALL:
        if cls.status == status and cls.scim_type == scim_type:
            return cls(detail)
    rebuilt = ScimError(detail)
    rebuilt.status = status  # type: ignore[misc]
    rebuilt.scim_type = scim_type  # type: ignore[misc]
    return rebuilt


_ALL: tuple[type[ScimError], ...] = (
    InvalidSyntax,
    InvalidFilter,
    InvalidValue,
    InvalidPath,
    NoTarget,
    Mutability,
    TooMany,
    Uniqueness,
    NotFound,
    PreconditionFailed,
    Unauthorized,
)
