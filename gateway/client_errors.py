"""The stream of client errors: SCIM 4xx answers kept for admins.

Identity providers resend what they were refused, so these are no errors to
retry; admins still want to see them. Each one answered to an authenticated
org (never a 401 or a 429) is noted in a bounded buffer and sent to the error
tracker in batches by a background task, so a response never waits for it nor
fails because of it. What does not fit is dropped, counted and logged. Only
the status, scimType, detail, method, path and request id are kept: never a
body, a header, a query string or a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import Request
from prometheus_client import Counter

from gateway.error_tracker import ErrorTrackerClient, timestamp
from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
FLUSH_SECONDS = 1.0
MAX_BUFFERED = 10_000
MAX_DETAIL_LENGTH = 1000
# Answers an IdP sees but that say nothing about its data: a wrong or missing
# token, or too many requests.
IGNORED_STATUSES = frozenset({401, 429})

CLIENT_ERRORS_DROPPED = Counter(
    "rivane_gateway_client_errors_dropped_total",
    "Client errors not kept for admins: the buffer was full or the tracker away",
)


def is_kept(status: int) -> bool:
    """Say whether a SCIM answer with `status` goes to the client-error stream."""
    return 400 <= status < 500 and status not in IGNORED_STATUSES


class ClientErrorLog:
    """Buffer client errors and send them to the error tracker in batches."""

    def __init__(
        self,
        tracker: ErrorTrackerClient,
        *,
        max_buffered: int = MAX_BUFFERED,
        batch_size: int = BATCH_SIZE,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._tracker = tracker
        self._max_buffered = max_buffered
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._buffer: list[pb.ClientError] = []
        self._full_batch = asyncio.Event()
        self.dropped = 0

    def note(self, error: pb.ClientError) -> None:
        """Keep one client error for the next batch; never blocks, never raises."""
        if len(self._buffer) >= self._max_buffered:
            self._drop(1, why="the buffer is full")
            return
        self._buffer.append(error)
        if len(self._buffer) >= self._batch_size:
            self._full_batch.set()

    def note_answer(
        self, request: Request, *, status: int, scim_type: str | None, detail: str
    ) -> None:
        """Note a SCIM error answered to an authenticated org, if it is one to keep."""
        org_id = getattr(request.state, "org_id", None)
        if not org_id or not is_kept(status):
            return
        self.note(
            pb.ClientError(
                org_id=str(org_id),
                status=status,
                scim_type=_utf8(scim_type or ""),
                detail=_utf8(detail[:MAX_DETAIL_LENGTH]),
                method=request.method,
                # The path only: a query string may carry a filter's values.
                path=_utf8(request.url.path),
                request_id=str(getattr(request.state, "request_id", "")),
                occurred_at=timestamp(datetime.now(UTC)),
            )
        )

    def pending(self) -> int:
        """Return how many client errors wait to be sent."""
        return len(self._buffer)

    async def flush(self) -> None:
        """Send what is buffered in batches; drop a batch the tracker refuses."""
        while self._buffer:
            batch = self._buffer[: self._batch_size]
            del self._buffer[: self._batch_size]
            try:
                await self._tracker.record_client_errors(batch)
            except Exception as error:  # the stream must never stop the gateway
                self._drop(len(batch), why=f"the error tracker failed: {error}")
                return

    async def run(self) -> None:
        """Flush every `flush_seconds`, or as soon as a batch is full."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full_batch.wait(), self._flush_seconds)
            self._full_batch.clear()
            await self.flush()

    def _drop(self, count: int, *, why: str) -> None:
        self.dropped += count
        CLIENT_ERRORS_DROPPED.inc(count)
        logger.warning("dropped %d client error(s): %s", count, why)


def _utf8(text: str) -> str:
    """Return `text` as protobuf takes it: a lone surrogate would raise."""
    return text.encode("utf-8", errors="replace").decode("utf-8")


@asynccontextmanager
async def client_error_log(
    tracker: ErrorTrackerClient,
) -> AsyncIterator[ClientErrorLog]:
    """Run the log's sender until the block ends, then send what is left."""
    log = ClientErrorLog(tracker)
    sender = asyncio.create_task(log.run(), name="client-error-sender")
    try:
        yield log
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        # A short last chance: shutdown must not hang on an absent tracker.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(log.flush(), 2.0)
