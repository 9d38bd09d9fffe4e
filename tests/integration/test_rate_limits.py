"""Rate limits per token: one noisy identity provider cannot starve another org."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.models import Org, User
from tests.integration.conftest import create_org_token
from tests.integration.stack import Stack

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PER_SECOND, BURST = 2, 5


@pytest.fixture(scope="module")
def limited(stack: Stack) -> Iterator[str]:
    """The SCIM URL of a gateway replica with a small limit per token."""
    base_url = stack.start_gateway(
        "gateway-limited",
        RIVANE_RATE_LIMIT_PER_SECOND=str(PER_SECOND),
        RIVANE_RATE_LIMIT_BURST=str(BURST),
    )
    yield f"{base_url}/scim/v2"
    stack.stop("gateway-limited")


def _user(login: str) -> dict[str, object]:
    return {"schemas": [USER_SCHEMA], "userName": login}


async def test_a_noisy_token_gets_429s_while_another_org_is_served(
    stack: Stack, database: AsyncEngine, limited: str
) -> None:
    noisy_org = f"noisy-{uuid.uuid4().hex[:10]}"
    noisy = create_org_token(stack, noisy_org)
    quiet = create_org_token(stack, f"quiet-{uuid.uuid4().hex[:10]}")

    noisy_answers, quiet_answers = [], []
    async with httpx.AsyncClient(base_url=limited, timeout=30) as client:
        for n in range(30):
            noisy_answers.append(
                await client.post(
                    "/Users",
                    json=_user(f"noisy.{n}.{uuid.uuid4().hex[:6]}@example.test"),
                    headers={"Authorization": f"Bearer {noisy}"},
                )
            )
            if n % 6 == 0:
                quiet_answers.append(
                    await client.get(
                        "/Users", headers={"Authorization": f"Bearer {quiet}"}
                    )
                )
        refused = [r for r in noisy_answers if r.status_code == 429]
        wait = int(refused[-1].headers["retry-after"]) if refused else 0
        await asyncio.sleep(wait)
        again = await client.get("/Users", headers={"Authorization": f"Bearer {noisy}"})

    created = [r for r in noisy_answers if r.status_code == 201]
    print(
        f"\nrate limit {PER_SECOND}/s burst {BURST}: {len(created)} created, "
        f"{len(refused)} refused with 429; Retry-After {wait} s; the other org "
        f"got {[r.status_code for r in quiet_answers]}"
    )
    assert BURST <= len(created) <= BURST + 3
    assert len(created) + len(refused) == 30
    for response in refused:
        assert response.json()["schemas"] == [ERROR_SCHEMA]
        assert response.json()["status"] == "429"
        assert int(response.headers["retry-after"]) >= 1
    assert all(r.status_code == 200 for r in quiet_answers)
    assert again.status_code == 200

    # A refused request wrote nothing.
    async with database.connect() as connection:
        stored = (
            await connection.execute(
                select(func.count())
                .select_from(User)
                .join(Org, Org.org_id == User.org_id)
                .where(Org.name == noisy_org)
            )
        ).scalar_one()
    assert stored == len(created)
