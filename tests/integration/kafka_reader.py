"""Read what the identity service published to Kafka after a recorded point.

A test takes a `Mark` (the end offset of every partition of the provisioning
topics) before it changes anything, then reads from the mark with a fresh
consumer until what it waits for has arrived or a deadline passes. A topic or
partition that did not exist at the mark is read from its beginning. Nothing
depends on consumer groups or on sleeping for the right amount of time, and a
mark stays valid across a broker restart.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

PROVISIONING_TOPICS = (
    "scim.user_provisioned",
    "scim.user_updated",
    "scim.user_deprovisioned",
)
_POLL_MS = 250
# Look for topics that appeared after the mark at most this often.
_METADATA_EVERY = 1.0


@dataclass(frozen=True)
class Published:
    """One record as a consumer of the provisioning topics sees it."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    payload: dict[str, Any]

    @property
    def event_id(self) -> str:
        """The payload's event id."""
        return str(self.payload.get("event_id"))

    @property
    def user_id(self) -> str:
        """The payload's user id."""
        return str(self.payload.get("user_id"))

    def summary(self) -> str:
        """Describe the event in one line for an assertion message."""
        return (
            f"{self.topic}[{self.partition}]@{self.offset} key={self.key} "
            f"action={self.payload.get('action')} "
            f"version={self.payload.get('version')} event_id={self.event_id}"
        )


@dataclass(frozen=True)
class Mark:
    """The end offsets of the topics' partitions at one moment."""

    bootstrap: str
    topics: tuple[str, ...]
    offsets: dict[TopicPartition, int]


def describe(events: Iterable[Published]) -> str:
    """Describe events one per line, for assertion messages."""
    lines = [event.summary() for event in events]
    return "\n".join(lines) if lines else "(no events)"


async def _partitions(bootstrap: str, topics: Iterable[str]) -> set[TopicPartition]:
    # Asking for all topics never makes the broker auto-create one.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    wanted = set(topics)
    return {
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["topic"] in wanted and topic["error_code"] == 0
        for partition in topic["partitions"]
    }


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def take_mark(
    bootstrap: str, topics: Iterable[str] = PROVISIONING_TOPICS
) -> Mark:
    """Record where each partition of `topics` ends right now."""
    wanted = tuple(topics)
    partitions = await _partitions(bootstrap, wanted)
    offsets: dict[TopicPartition, int] = {}
    if partitions:
        consumer = _consumer(bootstrap)
        await consumer.start()
        try:
            offsets = dict(await consumer.end_offsets(list(partitions)))
        finally:
            await consumer.stop()
    return Mark(bootstrap=bootstrap, topics=wanted, offsets=offsets)


def _decode(record: ConsumerRecord[bytes, bytes]) -> Published:
    value = record.value or b"{}"
    return Published(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode() if record.key is not None else None,
        headers={name: raw.decode() for name, raw in record.headers},
        payload=json.loads(value),
    )


async def read_events(
    since: Mark,
    *,
    until: Callable[[list[Published]], bool],
    wait_seconds: float = 30.0,
) -> list[Published]:
    """Return the events published after `since`, once `until` holds for them.

    Returns what arrived so far when `wait_seconds` pass first; the caller
    asserts on it and shows it.
    """
    deadline = time.monotonic() + wait_seconds
    events: list[Published] = []
    positions = dict(since.offsets)
    assigned: set[TopicPartition] = set()
    next_metadata = 0.0

    consumer = _consumer(since.bootstrap)
    await consumer.start()
    try:
        while True:
            # Topics the relay created after the mark join as they appear.
            every_topic_seen = {tp.topic for tp in assigned} >= set(since.topics)
            if not every_topic_seen and time.monotonic() >= next_metadata:
                found = await _partitions(since.bootstrap, since.topics)
                next_metadata = time.monotonic() + _METADATA_EVERY
                if found - assigned:
                    assigned |= found
                    consumer.assign(sorted(assigned))
                    for tp in assigned:
                        consumer.seek(tp, positions.get(tp, 0))

            if assigned:
                batches = await consumer.getmany(timeout_ms=_POLL_MS)
                for tp, records in batches.items():
                    for record in records:
                        events.append(_decode(record))
                        positions[tp] = record.offset + 1
            if until(events) or time.monotonic() >= deadline:
                return events
            if not assigned:
                # No topic exists yet: nothing to poll before asking again.
                await asyncio.sleep(_POLL_MS / 1000)
    finally:
        await consumer.stop()
