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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.telemetry import extract_context, kafka_headers

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

BATCH_SIZE = 500
# How often a relay counts what waits in its outbox, leader or not.
BACKLOG_EVERY_SECONDS = 5.0

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
    ) -> None:
        """Relay the events of `outbox`.

        `lock_key` names the PostgreSQL advisory lock that lets only one
        replica of the service publish at a time, so that the events of one
        key keep their order; each outbox table needs a key of its own.
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
        self._next_backlog = 0.0

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
        try:
            while not self._stopping:
                try:
                    published = await self.publish_pending()
                    backoff = self._poll_interval
                    await self._measure_backlog()
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
            await self._drop_producer()

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

    async def _measure_backlog(self) -> None:
        """Count the unpublished events and the age of the oldest, now and then."""
        if time.monotonic() < self._next_backlog:
            return
        self._next_backlog = time.monotonic() + BACKLOG_EVERY_SECONDS
        outbox = self._outbox.c
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(outbox.created_at)).where(
                        outbox.published_at.is_(None)
                    )
                )
            ).one()
        name = self._outbox.name
        OUTBOX_BACKLOG.labels(outbox=name).set(count)
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        OUTBOX_OLDEST_AGE.labels(outbox=name).set(max(age, 0.0))

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
