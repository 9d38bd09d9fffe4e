"""SCIM keeps working while Kafka is down; the outbox delivers every event afterwards.

The test stops the project's broker with `scripts/kafka.sh stop` and always
starts it again, so it can run in any order with the other tests.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.models import OutboxEvent, ProvisioningAudit
from tests.integration.conftest import OrgCredentials
from tests.integration.kafka_reader import describe, read_events, take_mark
from tests.integration.stack import ROOT, Stack

KAFKA_SCRIPT = ROOT / "scripts" / "kafka.sh"
SCRIPT_DEADLINE = 180.0
# How long the changes sit in the outbox with the broker away: longer than
# the relay's first retries, so "unpublished" means it tried and waited.
OUTAGE_HOLD = 3.0
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Broker:
    """The local Kafka broker, stopped and started with the project's script."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.stopped = False

    async def stop(self) -> None:
        """Stop the broker and wait until its port is closed."""
        self.stopped = True
        await self._script("stop")
        host, _, port = self.bootstrap.rpartition(":")
        deadline = time.monotonic() + 30
        while _accepts(host, int(port)):
            assert time.monotonic() < deadline, f"{self.bootstrap} still accepts"
            await asyncio.sleep(0.1)

    async def start(self) -> None:
        """Start the broker; the script returns once it answers an admin call."""
        await self._script("start")
        self.stopped = False

    async def _script(self, command: str) -> None:
        env = {**os.environ, "RIVANE_KAFKA_BOOTSTRAP": self.bootstrap}
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(KAFKA_SCRIPT),
            command,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), SCRIPT_DEADLINE)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        assert process.returncode == 0, (
            f"kafka.sh {command} exited {process.returncode}:\n{output.decode()}"
        )


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


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


async def _change_users(stack: Stack, org: OrgCredentials) -> list[str]:
    """Create three users, rename one, deactivate one, delete one; return ids."""
    patch_rename = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Offline"}],
    }
    patch_deactivate = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    user_ids: list[str] = []
    async with httpx.AsyncClient(
        base_url=stack.scim_url, headers=org.auth, timeout=15
    ) as client:
        for _ in range(3):
            login = f"outage.{secrets.token_hex(4)}@example.test"
            body: dict[str, Any] = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": login,
                "active": True,
                "emails": [{"type": "work", "value": login, "primary": True}],
            }
            created = await client.post("/Users", json=body)
            assert created.status_code == 201, created.text
            user_ids.append(created.json()["id"])

        first, second, third = user_ids
        for response in (
            await client.patch(f"/Users/{first}", json=patch_rename),
            await client.patch(f"/Users/{second}", json=patch_deactivate),
            await client.delete(f"/Users/{third}"),
        ):
            assert response.status_code in (200, 204), response.text
    return user_ids


async def _outbox_rows(database: AsyncEngine, user_ids: list[str]) -> list[Any]:
    audited = select(ProvisioningAudit.event_id).where(
        ProvisioningAudit.user_id.in_([uuid.UUID(uid) for uid in user_ids])
    )
    async with database.connect() as connection:
        return list(
            await connection.execute(
                select(
                    OutboxEvent.event_id, OutboxEvent.topic, OutboxEvent.published_at
                ).where(OutboxEvent.event_id.in_(audited))
            )
        )


async def test_changes_wait_in_the_outbox_and_arrive_after_kafka_returns(
    stack: Stack, database: AsyncEngine, scim_org: OrgCredentials, broker: Broker
) -> None:
    mark = await take_mark(stack.kafka_bootstrap)
    await broker.stop()

    user_ids = await _change_users(stack, scim_org)
    await asyncio.sleep(OUTAGE_HOLD)
    waiting = await _outbox_rows(database, user_ids)
    # 3 creations, a rename, a deactivation and a deletion.
    assert len(waiting) == 6, waiting
    assert all(row.published_at is None for row in waiting), waiting

    await broker.start()
    expected = {str(row.event_id): row.topic for row in waiting}
    arrived = await read_events(
        mark,
        until=lambda events: expected.keys() <= {e.event_id for e in events},
        wait_seconds=90,
    )
    seen = {e.event_id: e.topic for e in arrived if e.event_id in expected}
    assert seen == expected, f"expected {expected}, got:\n{describe(arrived)}"

    deadline = time.monotonic() + 30
    while any(
        row.published_at is None for row in await _outbox_rows(database, user_ids)
    ):
        assert time.monotonic() < deadline, "the relay did not mark the events"
        await asyncio.sleep(0.2)
