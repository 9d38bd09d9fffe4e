"""Access tokens end when access ends: deactivation and deletion revoke them.

Each test provisions users over SCIM in an org of its own, issues tokens
through `POST /sessions` and asks `POST /oauth2/introspect` about them, as a
Rivane service would. The control is 60 s from the SCIM request's arrival;
the fast path usually takes tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm

from tests.integration.access_tokens import REVOCATION_DEADLINE, Gateway, metric_value
from tests.integration.conftest import OrgCredentials
from tests.integration.stack import Stack


@pytest.fixture
async def gateway(stack: Stack, scim_org: OrgCredentials) -> AsyncIterator[Gateway]:
    """The stack's gateway, seen by a new org and by Rivane's services."""
    client = Gateway(stack, scim_org)
    yield client
    await client.close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


async def test_a_user_created_over_scim_gets_a_token_at_once(gateway: Gateway) -> None:
    user_id = await gateway.create_user()

    token = await gateway.issue_token(user_id)
    answer = await gateway.introspect(token)

    assert answer["active"] is True
    assert (answer["sub"], answer["org"]) == (user_id, str(gateway.org.org_id))
    assert answer["token_type"] == "Bearer"
    assert answer["iat"] <= time.time() < answer["exp"]


async def test_a_user_without_access_gets_no_token(gateway: Gateway) -> None:
    inactive = await gateway.create_user(active=False)
    deleted = await gateway.create_user()
    await gateway.delete_user(deleted)

    for user_id in (inactive, deleted, "2f1c0d64-0000-4000-8000-00000000dead"):
        response = await gateway.request_token(user_id)
        assert response.status_code == 403, response.text


async def test_deactivation_by_patch_revokes_the_users_token(gateway: Gateway) -> None:
    user_id = await gateway.create_user()
    tokens = [await gateway.issue_token(user_id) for _ in range(2)]

    sent = time.monotonic()
    await gateway.set_active(user_id, False)
    seconds = await gateway.seconds_until_inactive(tokens[0], since=sent)

    assert seconds < REVOCATION_DEADLINE
    assert (await gateway.introspect(tokens[1]))["active"] is False
    change = await gateway.revocation_of(user_id, "DEACTIVATE")
    assert change["revocation"]["tokens_revoked"] == 2
    assert change["revocation"]["source"] in ("direct", "kafka")
    print(f"PATCH active=false -> introspection inactive in {seconds * 1000:.0f} ms")


async def test_deletion_revokes_the_users_token(gateway: Gateway) -> None:
    user_id = await gateway.create_user()
    token = await gateway.issue_token(user_id)

    sent = time.monotonic()
    await gateway.delete_user(user_id)
    seconds = await gateway.seconds_until_inactive(token, since=sent)

    assert seconds < REVOCATION_DEADLINE
    change = await gateway.revocation_of(user_id, "DEPROVISION")
    assert change["revocation"]["tokens_revoked"] == 1
    print(f"DELETE -> introspection inactive in {seconds * 1000:.0f} ms")


async def test_the_audit_chain_reads_request_state_event_revocation(
    gateway: Gateway,
) -> None:
    user_id = await gateway.create_user()
    await gateway.issue_token(user_id)
    await gateway.set_active(user_id, False)

    change = await gateway.revocation_of(user_id, "DEACTIVATE")
    deadline = time.monotonic() + 30
    while change["event_published_at"] is None:
        assert time.monotonic() < deadline, change
        await asyncio.sleep(0.1)
        change = await gateway.revocation_of(user_id, "DEACTIVATE")

    # ISO 8601 in UTC with milliseconds: the strings sort as the times do.
    assert change["request_received_at"] <= change["state_changed_at"]
    assert change["state_changed_at"] <= change["event_published_at"]
    assert change["state_changed_at"] <= change["revocation"]["completed_at"]
    assert change["event_topic"] == "scim.user_deprovisioned"
    assert 0 <= change["revocation"]["latency_ms"] < REVOCATION_DEADLINE * 1000


async def test_the_second_path_of_a_revocation_changes_nothing(
    stack: Stack, gateway: Gateway
) -> None:
    port = stack.env["RIVANE_REVOCATION_METRICS_PORT"]
    consumed = "rivane_revocations_total"
    before = await metric_value(port, consumed, source="kafka")
    user_id = await gateway.create_user()
    await gateway.issue_token(user_id)

    await gateway.set_active(user_id, False)
    first = await gateway.revocation_of(user_id, "DEACTIVATE")
    # The event reaches the consumer after the direct call (or the other way
    # round, when the direct call was slow): either way one record stays.
    deadline = time.monotonic() + 30
    while await metric_value(port, consumed, source="kafka") <= before:
        assert time.monotonic() < deadline, "the consumer never saw the event"
        await asyncio.sleep(0.2)

    (after,) = [c for c in await gateway.audit(user_id) if c["action"] == "DEACTIVATE"]
    assert after["revocation"] == first["revocation"]


async def test_a_reactivated_user_gets_new_tokens_and_old_ones_stay_revoked(
    gateway: Gateway,
) -> None:
    user_id = await gateway.create_user()
    old = await gateway.issue_token(user_id)
    await gateway.set_active(user_id, False)
    await gateway.seconds_until_inactive(old, since=time.monotonic())

    await gateway.set_active(user_id, True)
    new = await gateway.issue_token(user_id)

    assert (await gateway.introspect(new))["active"] is True
    assert (await gateway.introspect(old))["active"] is False


async def test_an_expired_token_is_inactive(gateway: Gateway) -> None:
    user_id = await gateway.create_user()
    token = await gateway.issue_token(user_id, ttl_seconds=1)

    await asyncio.sleep(1.1)

    assert await gateway.introspect(token) == {"active": False}


async def test_forged_tokens_are_inactive(stack: Stack, gateway: Gateway) -> None:
    user_id = await gateway.create_user()
    genuine = await gateway.issue_token(user_id)
    async with httpx.AsyncClient() as client:
        jwks = (await client.get(f"{stack.base_url}/.well-known/jwks.json")).json()
    (jwk,) = jwks["keys"]
    header, _, signature = genuine.split(".")
    claims: dict[str, Any] = jwt.decode(genuine, options={"verify_signature": False})

    def unsigned(alg: str) -> str:
        head = _b64(json.dumps({"alg": alg, "kid": jwk["kid"]}).encode())
        return f"{head}.{_b64(json.dumps(claims).encode())}"

    def resigned(**changes: Any) -> str:
        # The genuine header and signature over claims changed after signing.
        body = _b64(json.dumps({**claims, **changes}).encode())
        return f"{header}.{body}.{signature}"

    public_key: Any = ECAlgorithm.from_jwk(json.dumps(jwk))
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = unsigned("HS256")
    mac = hmac.new(public_pem, confused.encode(), hashlib.sha256).digest()
    forgeries = {
        "alg none": unsigned("none") + ".",
        "HS256 keyed with the public key": f"{confused}.{_b64(mac)}",
        "a longer lifetime": resigned(exp=claims["exp"] + 86400),
        "another user": resigned(sub="2f1c0d64-0000-4000-8000-00000000beef"),
        "garbage": "not.a.token",
    }

    answers = {name: await gateway.introspect(t) for name, t in forgeries.items()}

    assert answers == {name: {"active": False} for name in forgeries}
    assert (await gateway.introspect(genuine))["active"] is True
