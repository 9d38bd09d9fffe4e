"""Client of the error-tracker service: the provisioning error log and its retries.

Like the other clients, every call has a deadline and every failure is
translated here, once, into the `ScimError` the gateway's handler renders.
Kinds and states travel as enum numbers; the admin API names them as
lower-case words (`event_not_published`, `open`), converted here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, cast

import grpc
from fastapi import Depends, Request
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.errors import ServiceUnavailable
from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from services.common.channels import client_channel
from services.common.error_reports import ErrorReporter
from services.common.errors import InvalidValue, NotFound, ScimError, from_rpc_error
from services.common.settings import StackSettings

DEFAULT_TIMEOUT_SECONDS = 10.0
# A retry replays the operations while the caller waits.
RETRY_TIMEOUT_SECONDS = 60.0
MAX_RETRY_IDS = 500

_UNAVAILABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)
_KIND_PREFIX = "ERROR_KIND_"
_STATE_PREFIX = "ERROR_STATE_"


def kind_words() -> list[str]:
    """Return the error kinds as the admin API names them."""
    return [_word(name, _KIND_PREFIX) for name in pb.ErrorKind.keys()[1:]]


def state_words() -> list[str]:
    """Return the error states as the admin API names them."""
    return [_word(name, _STATE_PREFIX) for name in pb.ErrorState.keys()[1:]]


def kind_of(word: str) -> int:
    """Return the `ErrorKind` a word names; 0 for none; `InvalidValue` if unknown."""
    return _enum_value(pb.ErrorKind, _KIND_PREFIX, word, what="kind")


def state_of(word: str) -> int:
    """Return the `ErrorState` a word names; 0 for none; `InvalidValue` if unknown."""
    return _enum_value(pb.ErrorState, _STATE_PREFIX, word, what="state")


def kind_word(value: int) -> str:
    """Return the admin API's word for an `ErrorKind`."""
    return _word(pb.ErrorKind.Name(cast(Any, value)), _KIND_PREFIX)


def state_word(value: int) -> str:
    """Return the admin API's word for an `ErrorState`."""
    return _word(pb.ErrorState.Name(cast(Any, value)), _STATE_PREFIX)


def _word(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower()


def _enum_value(enum: Any, prefix: str, word: str, *, what: str) -> int:
    word = word.strip()
    if not word:
        return 0
    name = prefix + word.upper()
    if word != word.lower() or name not in enum.keys()[1:]:
        known = ", ".join(_word(key, prefix) for key in enum.keys()[1:])
        raise InvalidValue(f"unknown {what} {word!r}; one of: {known}")
    return int(enum.Value(name))


def timestamp(moment: datetime | None) -> Timestamp | None:
    """Return a protobuf Timestamp of `moment`, or None."""
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@dataclass(frozen=True, slots=True)
class ErrorFilter:
    """Which errors to list: each part applies when set."""

    org_id: str = ""
    kind: int = 0
    state: int = 0
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 0
    page_token: str = ""


@dataclass(frozen=True, slots=True)
class ClientErrorFilter:
    """Which client errors to list: each part applies when set."""

    org_id: str = ""
    status: int = 0
    scim_type: str = ""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 0
    page_token: str = ""


class ErrorTrackerClient:
    """Typed calls to `rivane.error_tracker.v1.ErrorTrackerService`."""

    def __init__(self, stub: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._stub = stub
        self._timeout = timeout

    async def list_errors(self, query: ErrorFilter) -> Any:
        """Return one page of errors, newest first, and the next page's token."""
        request = pb.ListErrorsRequest(
            org_id=query.org_id,
            kind=cast(Any, query.kind),
            state=cast(Any, query.state),
            since=timestamp(query.since),
            until=timestamp(query.until),
            limit=query.limit,
            page_token=query.page_token,
        )
        return await self._call(self._stub.ListErrors, request)

    async def get_error(self, *, error_id: str) -> Any:
        """Return one error and its attempts, or raise `NotFound`."""
        request = pb.GetErrorRequest(error_id=error_id)
        return await self._call(self._stub.GetError, request)

    async def retry_errors(
        self, *, error_ids: Sequence[str], actor: str, request_id: str
    ) -> list[Any]:
        """Replay the errors now; return each one's result, in order."""
        request = pb.RetryErrorsRequest(
            error_ids=list(error_ids), actor=actor, request_id=request_id
        )
        reply = await self._call(
            self._stub.RetryErrors, request, deadline=RETRY_TIMEOUT_SECONDS
        )
        return list(reply.results)

    async def list_admin_retries(
        self, *, org_id: str, limit: int, before: datetime | None
    ) -> list[Any]:
        """Return the retries admins asked for, newest first, with their errors."""
        request = pb.ListAdminRetriesRequest(
            org_id=org_id, limit=limit, before=timestamp(before)
        )
        reply = await self._call(self._stub.ListAdminRetries, request)
        return list(reply.retries)

    async def report_error(self, request: pb.ReportErrorRequest) -> Any:
        """Record a failure; a known one is seen again rather than added."""
        return await self._call(self._stub.ReportError, request)

    async def record_client_errors(self, errors: Sequence[pb.ClientError]) -> int:
        """Keep client errors the gateway answered; return how many were kept."""
        request = pb.RecordClientErrorsRequest(errors=list(errors))
        reply = await self._call(self._stub.RecordClientErrors, request)
        return int(reply.recorded)

    async def list_client_errors(self, query: ClientErrorFilter) -> Any:
        """Return one page of client errors, newest first."""
        request = pb.ListClientErrorsRequest(
            org_id=query.org_id,
            status=query.status,
            scim_type=query.scim_type,
            since=timestamp(query.since),
            until=timestamp(query.until),
            limit=query.limit,
            page_token=query.page_token,
        )
        return await self._call(self._stub.ListClientErrors, request)

    async def _call(
        self,
        method: Callable[..., Awaitable[Any]],
        request: Any,
        *,
        deadline: float | None = None,
    ) -> Any:
        try:
            return await method(request, timeout=deadline or self._timeout)
        except grpc.aio.AioRpcError as error:
            translated = translate_rpc_error(error)
            if translated is None:
                raise
            raise translated from error


def translate_rpc_error(error: grpc.aio.AioRpcError) -> ScimError | None:
    """Return the SCIM error a failed call means, or None when it is ours."""
    rebuilt = from_rpc_error(error)
    if rebuilt is not None:
        return rebuilt
    code = error.code()
    if code in _UNAVAILABLE:
        return ServiceUnavailable("the error tracker is unavailable; retry later")
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(error.details() or "error not found")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidValue(error.details() or "invalid request")
    return None


@asynccontextmanager
async def error_tracker_client(
    address: str, *, stub: Any = None
) -> AsyncIterator[ErrorTrackerClient]:
    """Open the channel to the error tracker, or use a ready `stub` (tests)."""
    if stub is not None:
        yield ErrorTrackerClient(stub)
        return
    # The interceptors carry the request's trace context in gRPC metadata.
    channel = client_channel(address)
    try:
        yield ErrorTrackerClient(pb_grpc.ErrorTrackerServiceStub(channel))
    finally:
        await channel.close()


@asynccontextmanager
async def error_reporter(settings: StackSettings) -> AsyncIterator[ErrorReporter]:
    """Return the gateway's failure reporter; let its queue drain at the end."""
    reporter = ErrorReporter.from_settings(settings, source="gateway")
    try:
        yield reporter
    finally:
        await reporter.close()


def get_error_tracker(request: Request) -> ErrorTrackerClient:
    """Return the error-tracker client the app opened at startup."""
    return cast(ErrorTrackerClient, request.app.state.error_tracker)


ErrorTracker = Annotated[ErrorTrackerClient, Depends(get_error_tracker)]
