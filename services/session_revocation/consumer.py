"""The durable path: consume `scim.user_deprovisioned` and revoke, then commit.

The consumer belongs to a consumer group, commits a partition's offset only
after every event up to it is applied, and never skips an event it could not
apply: it retries it until the stores answer. A crash between applying and
committing only causes a repeat, which `Revoker` recognises by event id. An
event it cannot read is logged and passed over, so that it cannot block its
partition.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry import trace

from services.common.telemetry import extract_context
from services.session_revocation import metrics
from services.session_revocation.errors import InvalidRequest, StoreUnavailable
from services.session_revocation.failures import RevocationFailures
from services.session_revocation.revocations import Outcome, RevocationNotice, Source

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

TOPIC = "scim.user_deprovisioned"
_MAX_RECORDS = 200


class Applier(Protocol):
    """What the consumer hands each event to (`Revoker`)."""

    async def apply(self, notice: RevocationNotice, *, source: Source) -> Outcome: ...


class DeprovisionConsumer:
    """Apply every `scim.user_deprovisioned` event, at least once, until stopped."""

    def __init__(
        self,
        *,
        revoker: Applier,
        bootstrap_servers: str,
        group_id: str,
        topic: str = TOPIC,
        poll_seconds: float = 0.5,
        retry_seconds: float = 0.5,
        max_backoff: float = 5.0,
        failures: RevocationFailures | None = None,
    ) -> None:
        self._revoker = revoker
        self._failures = failures
        self._bootstrap = bootstrap_servers
        self._group_id = group_id
        self._topic = topic
        self._poll_ms = int(poll_seconds * 1000)
        self._retry = retry_seconds
        self._max_backoff = max_backoff

    async def run(self) -> None:
        """Consume until cancelled, reconnecting with backoff while Kafka is away."""
        backoff = self._retry
        while True:
            consumer = self._consumer()
            try:
                await consumer.start()
                backoff = self._retry
                await self._consume(consumer)
            except KafkaError as error:
                metrics.CONSUMER_DISCONNECTS.inc()
                logger.warning(
                    "revocation consumer lost Kafka (%s); uncommitted events will "
                    "be read again; reconnecting in %.1fs",
                    error,
                    backoff,
                )
            finally:
                await _stop(consumer)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            enable_auto_commit=False,
            # A group's first start reads what was published before it.
            auto_offset_reset="earliest",
        )

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(
                timeout_ms=self._poll_ms, max_records=_MAX_RECORDS
            )
            for partition, records in batches.items():
                for record in records:
                    await self._apply(record)
                await self._commit(consumer, partition, records[-1].offset + 1)

    async def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Apply one event, retrying while the stores are unavailable."""
        notice = _notice(record)
        if notice is None:
            return
        headers = {
            name: (value or b"").decode("utf-8", "replace")
            for name, value in record.headers
        }
        backoff = self._retry
        failures = 0
        with tracer.start_as_current_span(
            f"consume {record.topic}",
            context=extract_context(headers),
            kind=trace.SpanKind.CONSUMER,
        ):
            while True:
                try:
                    outcome = await self._revoker.apply(notice, source=Source.KAFKA)
                    if self._failures is not None:
                        self._failures.applied(notice, outcome)
                    return
                except StoreUnavailable as error:
                    failures += 1
                    if self._failures is not None:
                        self._failures.failed(notice, failures=failures, why=str(error))
                    logger.warning(
                        "cannot apply revocation event %s (%s); retrying in %.1fs",
                        notice.event_id,
                        error,
                        backoff,
                        extra={"request_id": notice.request_id},
                    )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    @staticmethod
    async def _commit(
        consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int
    ) -> None:
        try:
            await consumer.commit({partition: offset})
        except CommitFailedError as error:
            # The partition moved to another member while we applied; it reads
            # the events again, and applying them again is harmless.
            logger.warning(
                "could not commit %s at %d (%s); its new owner re-applies",
                partition,
                offset,
                error,
            )


def _notice(record: ConsumerRecord[bytes, bytes]) -> RevocationNotice | None:
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    try:
        payload: Any = json.loads(record.value or b"")
        if not isinstance(payload, dict):
            raise InvalidRequest("the event is not a JSON object")
        return RevocationNotice.from_event(payload)
    except (ValueError, InvalidRequest) as error:
        logger.warning("skipping unreadable revocation event %s: %s", where, error)
        return None


async def _stop(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except KafkaError as error:
        logger.warning("stopping the revocation consumer failed: %s", error)
