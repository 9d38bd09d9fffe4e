"""What the session tests do through the gateway, and what they read back.

Users are provisioned and changed over SCIM with an org's token; access
tokens are issued and introspected as another Rivane service would, with the
stack's admin credential; the audit chain and the services' metrics are read
the way an operator reads them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import OrgCredentials
from tests.integration.stack import Stack

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# The control: access ends within 60 s of the SCIM request's arrival.
REVOCATION_DEADLINE = 60.0
_POLL = 0.02


class Gateway:
    """SCIM, session and admin calls against the stack's gateway."""

    def __init__(self, stack: Stack, org: OrgCredentials) -> None:
        self.stack = stack
        self.org = org
        self._scim = httpx.AsyncClient(
            base_url=stack.scim_url, headers=org.auth, timeout=15
        )
        self._internal = httpx.AsyncClient(
            base_url=stack.base_url,
            headers={"Authorization": f"Bearer {stack.admin_token}"},
            timeout=15,
        )

    async def close(self) -> None:
        """Close both clients."""
        await self._scim.aclose()
        await self._internal.aclose()

    async def create_user(self, *, active: bool = True) -> str:
        """Provision a user over SCIM; return its id."""
        login = f"session.{secrets.token_hex(5)}@example.test"
        body = {"schemas": [USER_SCHEMA], "userName": login, "active": active}
        response = await self._scim.post("/Users", json=body)
        assert response.status_code == 201, response.text
        user_id: str = response.json()["id"]
        return user_id

    async def set_active(self, user_id: str, active: bool) -> None:
        """Deactivate or reactivate a user with a path-less PATCH, as Okta does."""
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"active": active}}],
        }
        response = await self._scim.patch(f"/Users/{user_id}", json=body)
        assert response.status_code == 200, response.text

    async def delete_user(self, user_id: str) -> None:
        """Deprovision a user."""
        response = await self._scim.delete(f"/Users/{user_id}")
        assert response.status_code == 204, response.text

    async def request_token(
        self, user_id: str, *, ttl_seconds: int = 0
    ) -> httpx.Response:
        """Ask for an access token for a user of the org."""
        body = {
            "org_id": str(self.org.org_id),
            "user_id": user_id,
            "ttl_seconds": ttl_seconds,
        }
        return await self._internal.post("/sessions", json=body)

    async def issue_token(self, user_id: str, *, ttl_seconds: int = 0) -> str:
        """Issue an access token for a user of the org."""
        response = await self.request_token(user_id, ttl_seconds=ttl_seconds)
        assert response.status_code == 201, response.text
        token: str = response.json()["access_token"]
        return token

    async def introspect(self, token: str) -> dict[str, Any]:
        """Return the RFC 7662 answer about a token."""
        response = await self._internal.post(
            "/oauth2/introspect", data={"token": token}
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def seconds_until_inactive(
        self, token: str, *, since: float, deadline: float = REVOCATION_DEADLINE
    ) -> float:
        """Poll introspection until the token is inactive; return the seconds taken.

        `since` is a `time.monotonic()` reading taken before the SCIM request
        was sent. Fails when `deadline` seconds pass first.
        """
        while (await self.introspect(token))["active"]:
            elapsed = time.monotonic() - since
            assert elapsed < deadline, f"token still active after {elapsed:.1f}s"
            await asyncio.sleep(_POLL)
        return time.monotonic() - since

    async def audit(self, user_id: str) -> list[dict[str, Any]]:
        """Return the user's audit chain, oldest change first."""
        response = await self._internal.get(
            f"/admin/orgs/{self.org.name}/users/{user_id}/audit"
        )
        assert response.status_code == 200, response.text
        changes: list[dict[str, Any]] = response.json()["changes"]
        return changes

    async def revocation_of(
        self, user_id: str, action: str, *, wait_seconds: float = 30.0
    ) -> dict[str, Any]:
        """Wait for the revocation of the user's latest `action`; return its change."""
        deadline = time.monotonic() + wait_seconds
        while True:
            changes = [c for c in await self.audit(user_id) if c["action"] == action]
            if changes and changes[-1]["revocation"] is not None:
                return changes[-1]
            assert time.monotonic() < deadline, f"no revocation recorded: {changes}"
            await asyncio.sleep(0.1)


async def metric_value(port: str, name: str, **labels: str) -> float:
    """Return the sum of a metric's samples that carry `labels` (0 when none)."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(
        float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )
