"""Fixtures of the integration tests: the real stack, org tokens, a Kafka reader."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.identity.models import ScimToken
from services.identity.tokens import hash_token
from tests.integration.stack import (
    ROOT,
    Stack,
    integration_database_url,
    reset_database,
    running_stack,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/integration as an integration test."""
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """A gateway and identity service on free ports, over a fresh database."""
    database_url = integration_database_url()
    kafka = os.environ.get("RIVANE_KAFKA_BOOTSTRAP", "127.0.0.1:59092")
    reset_database(database_url)
    with running_stack(
        database_url=database_url,
        kafka_bootstrap=kafka,
        # A run of its own may keep its logs apart from other runs.
        log_dir=Path(
            os.environ.get("RIVANE_TEST_LOG_DIR") or ROOT / ".data" / "test-logs"
        ),
    ) as running:
        yield running


def create_org_token(stack: Stack, org: str) -> str:
    """Create a SCIM token for `org` through the admin API and return the secret."""
    response = httpx.post(
        f"{stack.base_url}/admin/orgs/{org}/tokens",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


@pytest.fixture
def org_token(stack: Stack) -> str:
    """A bearer token of a new org of its own."""
    return create_org_token(stack, f"org-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def scim(stack: Stack, org_token: str) -> Iterator[httpx.Client]:
    """An HTTP client on the SCIM base URL, authenticated as a fresh org."""
    with httpx.Client(
        base_url=stack.scim_url,
        headers={
            "Authorization": f"Bearer {org_token}",
            "Content-Type": "application/scim+json",
        },
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The git-ignored folder where the local services keep their state."""
    return ROOT / ".data"


@dataclass(frozen=True)
class OrgCredentials:
    """A new org with one SCIM token, and the ids the database keeps for them."""

    name: str
    token: str
    org_id: uuid.UUID
    token_id: uuid.UUID

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header of the org's SCIM requests."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
async def database(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """An engine on the stack's database, for checking what the services wrote."""
    engine = create_async_engine(stack.database_url, pool_size=2, max_overflow=2)
    yield engine
    await engine.dispose()


async def new_org(stack: Stack, database: AsyncEngine) -> OrgCredentials:
    """Create an org and a token for it through the admin API; look up its ids."""
    name = f"org-{uuid.uuid4().hex[:12]}"
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{stack.base_url}/admin/orgs/{name}/tokens",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
        )
    response.raise_for_status()
    token: str = response.json()["token"]

    async with database.connect() as connection:
        row = (
            await connection.execute(
                select(ScimToken.org_id, ScimToken.token_id).where(
                    ScimToken.token_hash == hash_token(token)
                )
            )
        ).one()
    return OrgCredentials(
        name=name, token=token, org_id=row.org_id, token_id=row.token_id
    )


@pytest.fixture
async def scim_org(stack: Stack, database: AsyncEngine) -> OrgCredentials:
    """A new org of its own, with its token and the ids behind them."""
    return await new_org(stack, database)


@pytest.fixture
async def client(
    stack: Stack, scim_org: OrgCredentials
) -> AsyncIterator[httpx.AsyncClient]:
    """A SCIM client of a new org of its own."""
    async with httpx.AsyncClient(
        base_url=stack.scim_url,
        headers={**scim_org.auth, "Content-Type": "application/scim+json"},
        timeout=30,
    ) as http:
        yield http
