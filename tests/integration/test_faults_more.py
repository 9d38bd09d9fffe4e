"""Faults and bad input against the real stack: what an admin and a service see.

- Redis loses the session store's keys (a crash before its snapshot, a
  flush): a reactivated user's revoked token must stay refused, as the
  README promises, because the revocation times are rebuilt from PostgreSQL.
- The admin API and `/sessions` refuse what they cannot keep with a 400 in
  the SCIM error form, and change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from services.common.settings import get_settings
from services.session_revocation.app import deployment_of
from tests.integration.access_tokens import Gateway
from tests.integration.conftest import OrgCredentials
from tests.integration.stack import Stack


@pytest.fixture
async def gateway(stack: Stack, scim_org: OrgCredentials) -> AsyncIterator[Gateway]:
    """The stack's gateway, seen by a new org and by Rivane's services."""
    client = Gateway(stack, scim_org)
    yield client
    await client.close()


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the admin API with the bootstrap credential."""
    async with httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=15,
    ) as client:
        yield client


async def forget_sessions(stack: Stack, org: OrgCredentials, user_id: str) -> None:
    """Drop what Redis keeps of a user and the stack's restore mark, as a loss does.

    Redis is shared with other stacks, so only this user's keys and this
    stack's mark go; to the service that is what an emptied Redis looks like.
    """
    redis = Redis.from_url(get_settings().redis_url, decode_responses=True)
    try:
        keys = [
            key
            async for key in redis.scan_iter(f"rvn:sess:{{{org.org_id}:{user_id}}}*")
        ]
        keys.append(f"rvn:sess:restored:{deployment_of(stack.database_url)}")
        await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_a_revoked_token_stays_refused_after_redis_loses_its_keys(
    stack: Stack, gateway: Gateway, scim_org: OrgCredentials
) -> None:
    user_id = await gateway.create_user()
    revoked = await gateway.issue_token(user_id)
    await gateway.set_active(user_id, False)
    await gateway.revocation_of(user_id, "DEACTIVATE")
    await gateway.set_active(user_id, True)
    # Issuing asks the identity service afresh: the user reads ACTIVE again.
    fresh = await gateway.issue_token(user_id)
    assert (await gateway.introspect(revoked)) == {"active": False}

    await forget_sessions(stack, scim_org, user_id)

    assert (await gateway.introspect(revoked)) == {"active": False}
    assert (await gateway.introspect(fresh))["active"] is True


@pytest.mark.parametrize("name", ["Okta\x1b]0;pwned\x07", "Okta\nsecond line"])
async def test_a_token_name_with_control_characters_is_refused_and_issues_nothing(
    admin: httpx.AsyncClient, scim_org: OrgCredentials, name: str
) -> None:
    tokens = f"/admin/orgs/{scim_org.name}/tokens"
    before = (await admin.get(tokens)).json()

    response = await admin.post(tokens, json={"name": name})

    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert (await admin.get(tokens)).json() == before


async def test_a_session_ttl_beyond_the_field_is_a_400_not_a_500(
    gateway: Gateway,
) -> None:
    user_id = await gateway.create_user()

    response = await gateway.request_token(user_id, ttl_seconds=10**23)

    assert response.status_code == 400, response.text
    assert "ttl_seconds" in response.json()["detail"]
