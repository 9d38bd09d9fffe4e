"""Report failures to the error tracker without ever holding up the caller.

Any process of the stack (the gateway included) keeps one `ErrorReporter`:

    reporter = ErrorReporter.from_settings(settings, source="gateway")
    reporter.report(
        org_id=org_id,
        kind=pb.ERROR_KIND_BULK_OPERATION_FAILED,
        reason_code="UNAVAILABLE",
        reason="POST /Users failed: identity service unavailable",
        subject_type="User",
        subject_id="",
        dedup_key=f"{request_id}:{bulk_id}",
        operation=operation(
            "/rivane.identity.v1.IdentityService/CreateUser", request,
            summary="POST /Users bulkId=u1",
        ),
        request_id=request_id,
    )
    ...
    await reporter.close()

`report` and `resolve` return at once: the message waits in a bounded
in-memory queue, and a background task sends it, retrying with backoff for
as long as the error tracker is unreachable and the process lives. A message
that cannot be delivered (the queue is full, the tracker refuses it, or the
process stops first) is written whole, as JSON, to the log line that says
so, and counted in `rivane_error_reports_dropped_total`: it can be read back
from the log rather than being lost silently. With no `error_tracker_addr`
configured, nothing is sent. Call them from inside a running event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry import trace
from prometheus_client import Counter
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    stop_never,
    wait_exponential,
)

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from services.common.channels import client_channel
from services.common.settings import StackSettings

logger = logging.getLogger(__name__)

REPORTS_DROPPED = Counter(
    "rivane_error_reports_dropped_total",
    "Reports to the error tracker given up, by why",
    ["why"],
)

_CALL_TIMEOUT = 5.0
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)

Outgoing = pb.ReportErrorRequest | pb.ResolveErrorsRequest


def operation(
    method: str, request: Message, *, summary: str = "", target: str = ""
) -> pb.Operation:
    """Return the operation that replays one unary call of `method`."""
    return pb.Operation(
        method=method,
        request_json=json_format.MessageToJson(request, indent=None),
        summary=summary,
        target=target,
    )


def _give_up(message: Outgoing, *, why: str, cause: str) -> None:
    """Count a message not delivered and log it whole, to be read back."""
    REPORTS_DROPPED.labels(why=why).inc()
    logger.error(
        "%s not delivered to the error tracker (%s); it follows as JSON: %s",
        type(message).__name__,
        cause,
        json_format.MessageToJson(message, indent=None),
    )


def _retryable(error: BaseException) -> bool:
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in _RETRYABLE


def _current_trace_id() -> str:
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else ""


class ErrorReporter:
    """Send reports and resolutions to the error tracker in the background."""

    def __init__(
        self,
        address: str,
        *,
        source: str,
        queue_size: int = 1000,
        give_up_seconds: float | None = None,
    ) -> None:
        """Report to the error tracker at `address`; an empty one sends nothing.

        `give_up_seconds`, when given, bounds how long one message is retried;
        by default it is retried until the process stops.
        """
        self._address = address
        self._source = source
        self._give_up = give_up_seconds
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize=queue_size)
        self._channel: grpc.aio.Channel | None = None
        self._worker: asyncio.Task[None] | None = None
        self._sending: Outgoing | None = None

    @classmethod
    def from_settings(cls, settings: StackSettings, *, source: str) -> ErrorReporter:
        """Return the reporter of a process named `source`."""
        return cls(
            settings.error_tracker_addr,
            source=source,
            queue_size=settings.error_report_queue_size,
        )

    def report(
        self,
        *,
        org_id: str,
        kind: pb.ErrorKind.ValueType,
        reason_code: str,
        reason: str,
        subject_type: str,
        subject_id: str,
        dedup_key: str,
        operation: pb.Operation | None = None,
        request_id: str = "",
    ) -> None:
        """Queue a failure report; never raises, never waits."""
        self._enqueue(
            pb.ReportErrorRequest(
                org_id=org_id,
                kind=kind,
                reason_code=reason_code,
                reason=reason,
                subject_type=subject_type,
                subject_id=subject_id,
                operation=operation,
                dedup_key=dedup_key,
                request_id=request_id,
                trace_id=_current_trace_id(),
                source=self._source,
            )
        )

    def resolve(
        self,
        *,
        org_id: str,
        kind: pb.ErrorKind.ValueType,
        dedup_keys: Sequence[str],
        reason: str = "",
    ) -> None:
        """Queue the resolution of errors whose cause went away; never raises."""
        self._enqueue(
            pb.ResolveErrorsRequest(
                org_id=org_id,
                kind=kind,
                dedup_keys=list(dedup_keys),
                reason=reason,
                source=self._source,
            )
        )

    async def close(self, *, seconds: float = 2.0) -> None:
        """Give the queued messages up to `seconds` to leave, then stop."""
        worker, self._worker = self._worker, None
        if worker is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout=seconds)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        # The one in flight when the worker stopped, then those still waiting.
        left = [self._sending] if self._sending is not None else []
        self._sending = None
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
            self._queue.task_done()
        for message in left:
            _give_up(message, why="stopped", cause="the process stopped first")
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    def _enqueue(self, message: Outgoing) -> None:
        if not self._address:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            _give_up(message, why="queue_full", cause="its queue is full")
            return
        if self._worker is None or self._worker.done():
            try:
                self._worker = asyncio.get_running_loop().create_task(
                    self._drain(), name="error-reports"
                )
            except RuntimeError:
                logger.warning("no event loop to report errors from; dropping")

    async def _drain(self) -> None:
        while True:
            message = await self._queue.get()
            self._sending = message
            try:
                await self._send(message)
                self._sending = None
            except asyncio.CancelledError:
                # Still `_sending`: `close` logs it with those left waiting.
                raise
            except Exception as error:
                self._sending = None
                _give_up(message, why="unreachable", cause=str(error))
            finally:
                self._queue.task_done()

    async def _send(self, message: Outgoing) -> None:
        stub = pb_grpc.ErrorTrackerServiceStub(self._ensure_channel())
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential(multiplier=0.5, max=10),
            stop=(
                stop_never if self._give_up is None else stop_after_delay(self._give_up)
            ),
            reraise=True,
        ):
            with attempt:
                if isinstance(message, pb.ReportErrorRequest):
                    await stub.ReportError(message, timeout=_CALL_TIMEOUT)
                else:
                    await stub.ResolveErrors(message, timeout=_CALL_TIMEOUT)

    def _ensure_channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = client_channel(self._address)
        return self._channel
