"""Revocation holds its 60 s bound when Kafka, the fast path or the service fail.

- Kafka down: the identity service's direct call revokes alone; with that
  call failing too, token checks still refuse the user once the identity
  service's cached answer expires, and the event revokes when Kafka returns.
- The revocation service down: the deactivation's event waits in Kafka and
  is applied once the service is back; the failed direct call is in the
  identity service's log and metrics.
- A consumer that crashes after revoking and before committing: the event is
  read again, applying it again changes nothing, and then it is committed.

Kafka is stopped with `scripts/kafka.sh stop` and always started again.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis
from sqlalchemy import func, select

from services.common.settings import get_settings
from services.session_revocation.consumer import DeprovisionConsumer
from services.session_revocation.db import create_engine
from services.session_revocation.models import RevocationRecord
from services.session_revocation.records import RevocationRecords
from services.session_revocation.revocations import (
    Outcome,
    RevocationNotice,
    Revoker,
    Source,
)
from services.session_revocation.store import SessionStore
from tests.integration.access_tokens import REVOCATION_DEADLINE, Gateway, metric_value
from tests.integration.conftest import OrgCredentials
from tests.integration.stack import Stack, free_port
from tests.integration.test_outbox_outage import KAFKA_SCRIPT, Broker

FAST_PATH_FAILURES = ("rivane_identity_fast_revocations_total", {"outcome": "failed"})


@pytest.fixture
async def gateway(stack: Stack, scim_org: OrgCredentials) -> AsyncIterator[Gateway]:
    """The stack's gateway, seen by a new org and by Rivane's services."""
    client = Gateway(stack, scim_org)
    yield client
    await client.close()


@pytest.fixture
async def broker(stack: Stack) -> AsyncIterator[Broker]:
    """The broker, started again after the test whatever happened in it."""
    assert KAFKA_SCRIPT.is_file(), f"{KAFKA_SCRIPT} is missing"
    broker = Broker(stack.kafka_bootstrap)
    try:
        yield broker
    finally:
        if broker.stopped:
            await broker.start()


@contextmanager
def fast_path_failing(stack: Stack) -> Iterator[None]:
    """Run the identity service with its revocation calls going nowhere."""
    real_address = stack.env["RIVANE_REVOCATION_ADDR"]
    stack.stop("identity")
    stack.env["RIVANE_REVOCATION_ADDR"] = f"127.0.0.1:{free_port()}"
    try:
        stack.start("identity")
        yield
    finally:
        stack.stop("identity")
        stack.env["RIVANE_REVOCATION_ADDR"] = real_address
        stack.start("identity")


async def _fast_path_failures(stack: Stack) -> float:
    name, labels = FAST_PATH_FAILURES
    return await metric_value(stack.env["RIVANE_IDENTITY_METRICS_PORT"], name, **labels)


def _identity_warned_about(stack: Stack, user_id: str) -> bool:
    log = (stack.log_dir / "identity.log").read_text(errors="replace")
    return any(
        "WARNING" in line and "fast-path revocation" in line and user_id in line
        for line in log.splitlines()
    )


async def test_with_kafka_down_a_deactivated_users_token_is_refused_within_60s(
    stack: Stack, gateway: Gateway, broker: Broker
) -> None:
    direct_user, checked_user = [await gateway.create_user() for _ in range(2)]
    direct_token = await gateway.issue_token(direct_user)
    checked_token = await gateway.issue_token(checked_user)
    # The revocation service now trusts "ACTIVE" for a few seconds.
    assert (await gateway.introspect(checked_token))["active"] is True
    await broker.stop()

    # The fast path alone revokes.
    sent = time.monotonic()
    await gateway.set_active(direct_user, False)
    direct_seconds = await gateway.seconds_until_inactive(direct_token, since=sent)
    direct = await gateway.revocation_of(direct_user, "DEACTIVATE")
    assert direct["revocation"]["source"] == "direct"

    # With the fast path failing too, token checks ask the identity service
    # again once its cached answer is older than the cache time.
    with fast_path_failing(stack):
        failures = await _fast_path_failures(stack)
        sent = time.monotonic()
        await gateway.set_active(checked_user, False)
        checked_seconds = await gateway.seconds_until_inactive(
            checked_token, since=sent
        )
        assert await _fast_path_failures(stack) == failures + 1
        assert _identity_warned_about(stack, checked_user)

    assert direct_seconds < REVOCATION_DEADLINE
    assert checked_seconds < REVOCATION_DEADLINE
    print(
        f"Kafka down: fast path {direct_seconds * 1000:.0f} ms, "
        f"identity check alone {checked_seconds:.1f} s"
    )

    # Kafka back: the event completes the revocation of the checked user.
    await broker.start()
    checked = await gateway.revocation_of(checked_user, "DEACTIVATE", wait_seconds=90)
    assert checked["revocation"]["source"] == "kafka"
    assert checked["revocation"]["tokens_revoked"] == 1


async def test_a_deactivation_while_the_service_is_down_is_applied_once_it_is_back(
    stack: Stack, gateway: Gateway
) -> None:
    user_id = await gateway.create_user()
    token = await gateway.issue_token(user_id)
    failures = await _fast_path_failures(stack)

    await asyncio.to_thread(stack.stop, "session_revocation")
    try:
        await gateway.set_active(user_id, False)
        deadline = time.monotonic() + 10
        while await _fast_path_failures(stack) == failures:
            assert time.monotonic() < deadline, "the failed call was not counted"
            await asyncio.sleep(0.1)
        assert _identity_warned_about(stack, user_id)
    finally:
        await asyncio.to_thread(stack.start, "session_revocation")

    change = await gateway.revocation_of(user_id, "DEACTIVATE", wait_seconds=60)
    assert change["revocation"]["source"] == "kafka"
    assert change["revocation"]["tokens_revoked"] == 1
    assert await gateway.introspect(token) == {"active": False}


class Crash(Exception):
    """Stands for the process dying at the worst moment."""


class CrashAfterApplying:
    """A revoker that applies the event, then dies before anyone commits."""

    def __init__(self, revoker: Revoker) -> None:
        self._revoker = revoker

    async def apply(self, notice: RevocationNotice, *, source: Source) -> Outcome:
        await self._revoker.apply(notice, source=source)
        raise Crash("died between blocklisting and committing")


class Watching:
    """A revoker that remembers what each delivery found."""

    def __init__(self, revoker: Revoker) -> None:
        self._revoker = revoker
        self.outcomes: list[Outcome] = []

    async def apply(self, notice: RevocationNotice, *, source: Source) -> Outcome:
        outcome = await self._revoker.apply(notice, source=source)
        self.outcomes.append(outcome)
        return outcome


async def _committed(bootstrap: str, group: str, partition: TopicPartition) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(partition) or 0
    finally:
        await consumer.stop()


async def test_a_consumer_crashing_before_its_commit_reapplies_harmlessly(
    stack: Stack,
) -> None:
    # A topic and group of this test's own carry one deactivation event of a
    # user with one live token, straight into Redis and the stack's database.
    topic = f"test.user_deprovisioned.{secrets.token_hex(4)}"
    group = f"test-revocation-{secrets.token_hex(4)}"
    org_id, user_id, event_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    redis = Redis.from_url(get_settings().redis_url, decode_responses=True)
    engine = create_engine(stack.database_url)
    store = SessionStore(redis, max_token_ttl_seconds=3600)
    revoker = Revoker(store=store, records=RevocationRecords(engine))
    await store.record_issued(
        org_id=str(org_id),
        user_id=str(user_id),
        jti="jti-live",
        issued_at=(now - timedelta(seconds=30)).timestamp(),
        expires_at=int(now.timestamp()) + 600,
    )
    event = {
        "event_id": str(event_id),
        "org_id": str(org_id),
        "user_id": str(user_id),
        "action": "DEACTIVATE",
        "request_id": "crash-test",
        "request_received_at": (now - timedelta(seconds=1)).isoformat(),
        "occurred_at": now.isoformat(),
    }
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, json.dumps(event).encode(), key=str(user_id).encode()
        )
    finally:
        await producer.stop()
    partition = TopicPartition(topic, sent.partition)

    def consumer(revoker: CrashAfterApplying | Watching) -> DeprovisionConsumer:
        return DeprovisionConsumer(
            revoker=revoker,
            bootstrap_servers=stack.kafka_bootstrap,
            group_id=group,
            topic=topic,
            poll_seconds=0.1,
        )

    try:
        with pytest.raises(Crash):
            await asyncio.wait_for(consumer(CrashAfterApplying(revoker)).run(), 60)
        blocked = await store.token_state(
            org_id=str(org_id), user_id=str(user_id), jti="jti-live"
        )
        assert blocked.blocklisted
        assert await _committed(stack.kafka_bootstrap, group, partition) == 0

        # The next member of the group reads the event again.
        watching = Watching(revoker)
        task = asyncio.create_task(consumer(watching).run())
        try:
            deadline = time.monotonic() + 60
            while await _committed(stack.kafka_bootstrap, group, partition) == 0:
                assert time.monotonic() < deadline, "the event was never committed"
                await asyncio.sleep(0.2)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        (outcome,) = watching.outcomes
        assert outcome.first is False
        assert outcome.revocation.tokens_revoked == 1
        assert outcome.revocation.source == Source.KAFKA
        async with engine.connect() as connection:
            records = (
                await connection.execute(
                    select(func.count()).where(RevocationRecord.event_id == event_id)
                )
            ).scalar_one()
        assert records == 1
    finally:
        await redis.aclose()
        await engine.dispose()
