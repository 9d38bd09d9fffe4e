"""The gRPC edge of a service: domain errors become statuses here, once.

A `ScimError` becomes its gRPC status with the SCIM status and `scimType` in
trailing metadata, which the gateway turns back into the same error. Anything
else is logged once and answered with a bare INTERNAL, so that SQL and the
values bound to it stay in our log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from services.common.errors import ScimError, error_metadata, grpc_code_for

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
Request = TypeVar("Request")
Response = TypeVar("Response")
Unary = Callable[[Any, Request, Context], Awaitable[Response]]
Streaming = Callable[[Any, Request, Context], AsyncIterator[Response]]


def unary_edge(handler: Unary[Request, Response]) -> Unary[Request, Response]:
    """Translate the errors of a unary handler."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Request, context: Context) -> Response:
        try:
            return await handler(self, request, context)
        except grpc.aio.AbortError:
            raise
        except ScimError as error:
            await _abort_scim(context, error)
        except Exception:
            await _abort_internal(context, handler.__name__, request)

    return wrapper


def streaming_edge(
    handler: Streaming[Request, Response],
) -> Streaming[Request, Response]:
    """Translate the errors of a response-streaming handler, even mid-stream."""

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Request, context: Context
    ) -> AsyncIterator[Response]:
        stream = handler(self, request, context)
        try:
            async for response in stream:
                yield response
        except grpc.aio.AbortError:
            raise
        except ScimError as error:
            await _abort_scim(context, error)
        except Exception:
            await _abort_internal(context, handler.__name__, request)
        finally:
            # A client that hangs up early must not leave a cursor open.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    return wrapper


async def _abort_scim(context: Context, error: ScimError) -> NoReturn:
    context.set_trailing_metadata(error_metadata(error))
    await context.abort(grpc_code_for(error), error.detail)
    raise AssertionError("unreachable: abort raises")


async def _abort_internal(context: Context, name: str, request: Any) -> NoReturn:
    logger.exception(
        "unhandled error in %s", name, extra={"request_id": _request_id_of(request)}
    )
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
    raise AssertionError("unreachable: abort raises")


def _request_id_of(request: Any) -> str:
    context = getattr(request, "context", None)
    return str(getattr(context, "request_id", "") or "-")
