"""Wait until a Kafka broker answers an admin call, then create the topics asked for.

Ready means the broker returns cluster metadata that lists at least one
broker, not that its port accepts connections. Creating a topic that already
exists is not an error, so the script can run after every start. It also asks
for a group coordinator once, which makes the broker create its offsets topic
now rather than when the first consumer joins.

    python scripts/wait_kafka.py --deadline 90 --pid 1234 --topic scim.user_updated
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

logger = logging.getLogger("wait_kafka")

_RETRY_INTERVAL = 0.25


class BrokerGone(Exception):
    """The broker process exited before it became ready."""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def _describe_once(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    if not cluster.get("brokers"):
        raise KafkaError("the cluster lists no broker yet")


async def wait_ready(*, bootstrap: str, deadline: float, pid: int | None) -> None:
    """Retry a metadata call until it succeeds or `deadline` (monotonic) passes."""
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if pid is not None and not _alive(pid):
            raise BrokerGone(f"broker process {pid} exited")
        try:
            await _describe_once(bootstrap)
            return
        except (KafkaError, OSError) as error:
            last_error = error
        await asyncio.sleep(_RETRY_INTERVAL)
    raise TimeoutError(f"no answer from {bootstrap}: {last_error!r}")


async def warm_group_coordinator(*, bootstrap: str, deadline: float) -> None:
    """Retry finding a group coordinator until the offsets topic is up."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        while True:
            try:
                await admin.find_coordinator("rivane-startup")
                return
            except KafkaError:
                if time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(_RETRY_INTERVAL)
    finally:
        await admin.close()


async def create_topics(
    *, bootstrap: str, topics: list[str], partitions: int, replication: int
) -> None:
    """Create the `topics` that do not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        missing = sorted(set(topics) - set(await admin.list_topics()))
        if not missing:
            return
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication) for name in missing]
        )
        for topic, code, *rest in response.topic_errors:
            error = for_code(code)
            if code == 0 or error is TopicAlreadyExistsError:
                continue
            message = rest[0] if rest else ""
            raise error(f"could not create topic {topic}: {message}")
    finally:
        await admin.close()


def main() -> int:
    """Parse arguments, wait for the broker, create topics; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("RIVANE_KAFKA_BOOTSTRAP", "127.0.0.1:59092"),
    )
    parser.add_argument("--deadline", type=float, default=90.0, help="seconds")
    parser.add_argument("--pid", type=int, help="fail early when this process exits")
    parser.add_argument("--topic", action="append", default=[], dest="topics")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--replication", type=int, default=1)
    args = parser.parse_args()

    # The client logs every refused connection while the broker boots.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def run() -> None:
        deadline = time.monotonic() + args.deadline
        await wait_ready(bootstrap=args.bootstrap, deadline=deadline, pid=args.pid)
        await warm_group_coordinator(bootstrap=args.bootstrap, deadline=deadline)
        if args.topics:
            await create_topics(
                bootstrap=args.bootstrap,
                topics=args.topics,
                partitions=args.partitions,
                replication=args.replication,
            )

    try:
        asyncio.run(run())
    except (BrokerGone, TimeoutError, KafkaError) as error:
        logger.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
