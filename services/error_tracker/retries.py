"""Retries of errors: by an admin on demand, and automatically with backoff.

A retry claims the error (RETRYING), replays its operation outside any
transaction, then writes the outcome and the attempt row together. The claim
is a conditional update, so two retries of one error never replay it twice;
automatic retries claim with SKIP LOCKED, so replicas share the due errors.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from services.error_tracker.models import ErrorAttempt, TrackedError
from services.error_tracker.policy import ADMIN, AUTO, Backoff, judge
from services.error_tracker.records import ErrorStore, Finish
from services.error_tracker.replayer import Operation, Replayer

logger = logging.getLogger(__name__)

ATTEMPTS = Counter(
    "rivane_error_tracker_attempts_total",
    "Replays of tracked errors, by trigger and the state they left",
    ["trigger", "outcome"],
)

_AUTO_BATCH = 20
# Replays of one admin request that run at once.
_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class RetryResult:
    """An error after a retry asked for, and the attempt it made, if any."""

    error_id: uuid.UUID
    error: TrackedError | None
    attempt: ErrorAttempt | None


class RetryCoordinator:
    """Replay errors and record what came of it."""

    def __init__(
        self,
        store: ErrorStore,
        replayer: Replayer,
        *,
        backoff: Backoff,
        replay_timeout: float,
        poll_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._replayer = replayer
        self._backoff = backoff
        # A claim older than two deadlines belongs to a replica that died.
        self._stale_after = timedelta(seconds=2 * replay_timeout + 5)
        self._poll_seconds = poll_seconds
        self._limit = asyncio.Semaphore(_CONCURRENCY)

    async def retry(
        self, error_ids: Sequence[uuid.UUID], *, actor: str, request_id: str
    ) -> list[RetryResult]:
        """Replay each error now on an admin's behalf; answer each outcome."""
        return list(
            await asyncio.gather(
                *(
                    self._retry_one(error_id, actor=actor, request_id=request_id)
                    for error_id in error_ids
                )
            )
        )

    async def run(self) -> None:
        """Replay the due errors until cancelled."""
        while True:
            try:
                due = await self._store.claim_due(
                    limit=_AUTO_BATCH, stale_after=self._stale_after
                )
                await asyncio.gather(
                    *(
                        self._replay(error, trigger=AUTO, actor=AUTO, request_id="")
                        for error in due
                    )
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning(
                    "automatic retries failed (%s: %s); trying again in %.1fs",
                    type(error).__name__,
                    error,
                    self._poll_seconds,
                )
                due = []
            if len(due) < _AUTO_BATCH:
                await asyncio.sleep(self._poll_seconds)

    async def _retry_one(
        self, error_id: uuid.UUID, *, actor: str, request_id: str
    ) -> RetryResult:
        async with self._limit:
            error, claimed = await self._store.claim(error_id)
            if error is None or not claimed:
                # Resolved already, or replayed elsewhere right now.
                return RetryResult(error_id, error, None)
            return await self._replay(
                error, trigger=ADMIN, actor=actor, request_id=request_id
            )

    async def _replay(
        self, error: TrackedError, *, trigger: str, actor: str, request_id: str
    ) -> RetryResult:
        started = datetime.now(UTC)
        operation = Operation.of(error.operation)
        result = await self._replayer.replay(operation)
        auto = trigger == AUTO
        verdict = judge(
            kind=error.kind,
            method=operation.method,
            status_code=result.status_code,
            auto_attempts=error.auto_attempts + (1 if auto else 0),
            backoff=self._backoff,
        )
        detail = (
            f"{verdict.detail}: {result.detail}" if result.detail else verdict.detail
        )
        updated, attempt = await self._store.finish(
            error.error_id,
            Finish(
                trigger=trigger,
                actor=actor,
                started_at=started,
                outcome=verdict.state,
                status_code=result.status_code,
                detail=detail,
                request_id=request_id,
                retry_in=verdict.retry_in,
            ),
            auto=auto,
        )
        ATTEMPTS.labels(trigger=trigger, outcome=updated.state).inc()
        logger.info(
            "%s retry of %s error %s by %s: %s -> %s",
            trigger,
            error.kind,
            error.error_id,
            actor,
            result.status_code,
            updated.state,
            extra={"org_id": error.org_id, "request_id": request_id or "-"},
        )
        return RetryResult(error.error_id, updated, attempt)
