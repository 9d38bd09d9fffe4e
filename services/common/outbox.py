"""The transactional outbox relay: publishes committed events to Kafka.

A service writes its events to an outbox table in the transaction of the
change. The relay reads them in commit order, publishes them with an
idempotent producer (acks=all) keyed as written, and marks them published.
While Kafka is down they wait in the outbox; none is lost, and a crash between
publishing and marking only causes a repeat, which consumers drop by event id.

Every service owns its outbox table, with the columns `seq`, `topic`, `key`,
`payload`, `headers`, `created_at` and `published_at`, and runs one relay
over it.

Each event is sent in a span that continues the trace stored in its headers
when it was written, so a consumer's span joins the trace of the SCIM request
that caused the event. `stop` ends the relay between batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry import trace
from prometheus_client import Gauge
from sqlalchemy import FromClause, Table, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.outbox_watch import Backlog, OutboxWatch, oldest_age
from services.common.telemetry import extract_context, kafka_headers

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

BATCH_SIZE = 500
# How often a relay counts what waits in its outbox, leader or not.
BACKLOG_EVERY_SECONDS = 5.0
# How often `flush` looks again while another replica holds the outbox.
_FLUSH_POLL_SECONDS = 0.1

OUTBOX_BACKLOG = Gauge(
    "rivane_outbox_backlog_events",
    "Events written to the outbox and not yet published",
    ["outbox"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "rivane_outbox_oldest_event_age_seconds",
    "Age of the oldest unpublished event in the outbox; 0 when it is empty",
    ["outbox"],
)


class OutboxRelay:
    """Move events from one outbox table to Kafka until stopped."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        outbox: FromClause,
        lock_key: int,
        bootstrap_servers: str,
        poll_interval: float = 0.5,
        max_backoff: float = 5.0,
        watch: OutboxWatch | None = None,
    ) -> None:
        """Relay the events of `outbox`.

        `lock_key` names the PostgreSQL advisory lock that lets only one
        replica of the service publish at a time, so that the events of one
        key keep their order; each outbox table needs a key of its own.
        `watch`, when given, reports a backlog that stops draining to the
        error tracker.
        """
        if not isinstance(outbox, Table):
            raise TypeError("the outbox must be a table")
        self._sessions = sessions
        self._outbox = outbox
        self._lock_key = lock_key
        self._bootstrap = bootstrap_servers
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._stopping = False
        self._producer: AIOKafkaProducer | None = None
        self._watch = watch
        self._backlog_every = BACKLOG_EVERY_SECONDS
        if watch is not None:
            # Measured often enough to report soon after the threshold.
            self._backlog_every = min(
                BACKLOG_EVERY_SECONDS, max(watch.alert_after_seconds / 2, 0.2)
            )

    def wake(self) -> None:
        """Ask the relay to look at the outbox now (called after a commit)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask `run` to return once the batch in hand is published and marked."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped or cancelled, retrying while Kafka is away."""
        backoff = self._poll_interval
        # Measured beside the publishing, which can hang for as long as Kafka
        # is away: that is when the backlog matters most.
        watcher = asyncio.create_task(self._watch_backlog(), name="outbox-backlog")
        try:
            while not self._stopping:
                try:
                    published = await self.publish_pending()
                    backoff = self._poll_interval
                except (KafkaError, OSError) as error:
                    await self._drop_producer()
                    logger.warning(
                        "outbox relay cannot reach Kafka (%s); retrying in %.1fs",
                        error,
                        backoff,
                    )
                    await self._wait_for_work(seconds=backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                if published < BATCH_SIZE:
                    await self._wait_for_work(seconds=self._poll_interval)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self._drop_producer()

    async def flush(self, *, seconds: float) -> tuple[int, int]:
        """Publish what waits now; return (published, still pending).

        Returns once no event written before the call is left, or after
        `seconds` with what is left; raises `KafkaError` or `OSError`
        while Kafka cannot take them.
        """
        cutoff = datetime.now(UTC)
        deadline = time.monotonic() + seconds
        published = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                published += await asyncio.wait_for(
                    self.publish_pending(), timeout=max(remaining, 0.1)
                )
            except TimeoutError:
                pass
            except (KafkaError, OSError):
                await self._drop_producer()
                raise
            pending = await self._pending_before(cutoff)
            if pending == 0 or time.monotonic() >= deadline:
                self.wake()
                return published, pending
            await asyncio.sleep(_FLUSH_POLL_SECONDS)

    async def _pending_before(self, cutoff: datetime) -> int:
        outbox = self._outbox.c
        async with self._sessions() as session:
            count: int = (
                await session.execute(
                    select(func.count()).where(
                        outbox.published_at.is_(None), outbox.created_at <= cutoff
                    )
                )
            ).scalar_one()
        return count

    async def publish_pending(self) -> int:
        """Publish one batch of pending events; return how many went out."""
        outbox = self._outbox.c
        async with self._sessions.begin() as session:
            locked = (
                await session.execute(
                    select(func.pg_try_advisory_xact_lock(self._lock_key))
                )
            ).scalar_one()
            if not locked:
                return 0
            events = (
                await session.execute(
                    select(
                        outbox.seq,
                        outbox.topic,
                        outbox.key,
                        outbox.payload,
                        outbox.headers,
                    )
                    .where(outbox.published_at.is_(None))
                    .order_by(outbox.seq)
                    .limit(BATCH_SIZE)
                )
            ).all()
            if not events:
                return 0

            producer = await self._ensure_producer()
            sends = [await self._send(producer, event) for event in events]
            await asyncio.gather(*sends)
            await session.execute(
                update(self._outbox)
                .where(outbox.seq.in_([event.seq for event in events]))
                .values(published_at=datetime.now(UTC))
            )
        logger.debug("published %d events", len(events))
        return len(events)

    @staticmethod
    async def _send(producer: AIOKafkaProducer, event: Any) -> asyncio.Future[Any]:
        """Queue one event in a span continuing the trace it was written in."""
        with tracer.start_as_current_span(
            f"publish {event.topic}",
            context=extract_context(event.headers),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": event.topic,
                "messaging.kafka.message.key": event.key,
            },
        ):
            sent: asyncio.Future[Any] = await producer.send(
                event.topic,
                value=json.dumps(event.payload).encode(),
                key=event.key.encode(),
                headers=kafka_headers(event.headers),
            )
        return sent

    async def _watch_backlog(self) -> None:
        while True:
            try:
                await self._measure_backlog()
            except (SQLAlchemyError, OSError) as error:
                logger.warning("cannot measure the outbox backlog: %s", error)
            await asyncio.sleep(self._backlog_every)

    async def _measure_backlog(self) -> None:
        """Count the unpublished events and the age of the oldest."""
        outbox = self._outbox.c
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(outbox.created_at)).where(
                        outbox.published_at.is_(None)
                    )
                )
            ).one()
            first = (
                await session.execute(
                    select(outbox.event_id)
                    .where(outbox.published_at.is_(None))
                    .order_by(outbox.seq)
                    .limit(1)
                )
            ).scalar_one_or_none()
        name = self._outbox.name
        age = oldest_age(oldest, datetime.now(UTC))
        OUTBOX_BACKLOG.labels(outbox=name).set(count)
        OUTBOX_OLDEST_AGE.labels(outbox=name).set(age)
        if self._watch is not None:
            self._watch.observe(
                Backlog(count, str(first) if first else "", oldest_age_seconds=age)
            )

    async def _wait_for_work(self, *, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
        # A stop request stays visible to the loop.
        if not self._stopping:
            self._wake.clear()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                enable_idempotence=True,
                acks="all",
                request_timeout_ms=10_000,
                linger_ms=2,
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except (KafkaError, OSError) as error:
                logger.warning("closing the Kafka producer failed: %s", error)
