"""Start a new Kafka consumer group at the end of its topics.

A service whose consumer group is new reads its topics from the beginning,
which in tests means every event that earlier runs published for users of
databases long dropped. Each test stack gives its consumers a group of their
own, committed here at the current end of the topics: they see every event
published from then on, and none from before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition


async def _commit_at_end(bootstrap: str, group_id: str, topics: list[str]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        # Listing the topics fetches the metadata the partitions come from.
        await consumer.topics()
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.commit(dict(await consumer.end_offsets(partitions)))
    finally:
        await consumer.stop()


def start_group_at_end(bootstrap: str, *, group_id: str, topics: Iterable[str]) -> None:
    """Commit `group_id`'s offsets at the current end of each partition of `topics`."""
    asyncio.run(_commit_at_end(bootstrap, group_id, list(topics)))
