"""A user's audit chain as an admin reads it, against a fake identity service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, ORG_ID, FakeIdentity, client_for

from protos.rivane.identity.v1 import identity_pb2
from services.common.settings import StackSettings

UNKNOWN_USER = "4e796e78-0000-4000-8000-00000000dead"


@dataclass
class FakeIdentityWithoutUsers(FakeIdentity):
    """The fake identity service of an org whose users have no audit rows."""

    async def GetOrg(self, request: Any, context: Any) -> Any:
        await self._enter("GetOrg", request, context)
        return identity_pb2.Org(org_id=ORG_ID, name=request.name)

    async def ListUserAudit(self, request: Any, context: Any) -> Any:
        await self._enter("ListUserAudit", request, context)
        return identity_pb2.ListUserAuditResponse()


@pytest.fixture
async def fake_identity() -> AsyncIterator[FakeIdentity]:
    yield FakeIdentityWithoutUsers()


@pytest.fixture
def settings(settings: StackSettings) -> StackSettings:
    # Nothing listens here: the chain of an unknown user needs no revocations.
    return settings.model_copy(update={"revocation_addr": "127.0.0.1:1"})


async def test_the_audit_chain_of_a_user_the_org_never_had_is_not_found(
    app: FastAPI,
) -> None:
    async with client_for(app, Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = await admin.get(f"/admin/orgs/acme/users/{UNKNOWN_USER}/audit")

    assert response.status_code == 404
    assert UNKNOWN_USER in response.json()["detail"]
