"""Sessions, introspection, the JWK Set and the audit chain, as callers see them.

The gateway runs against fake identity and session revocation services on
real gRPC.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, ORG_ID, TOKEN, FakeIdentity, client_for
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.app import create_app
from gateway.cli import main
from protos.rivane.identity.v1 import identity_pb2
from protos.rivane.session_revocation.v1 import session_revocation_pb2 as pb
from protos.rivane.session_revocation.v1 import session_revocation_pb2_grpc
from services.common.settings import StackSettings
from services.common.telemetry import grpc_server_interceptors

USER_ID = "4e796e78-0000-4000-8000-0000000000a1"
EVENT_ID = "6c760482-0000-4000-8000-0000000000e1"
INTERNAL_TOKEN = "rvnint_unit-test-internal"
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
JWKS = '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "k1"}]}'


def _stamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


@dataclass
class FakeRevocation(session_revocation_pb2_grpc.SessionRevocationServiceServicer):
    """In-memory SessionRevocationService that records what it was asked."""

    active: bool = True
    reason: pb.InactiveReason.ValueType = pb.INACTIVE_REASON_UNSPECIFIED
    requests: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, grpc.StatusCode] = field(default_factory=dict)

    async def _enter(self, name: str, request: Any, context: Any) -> None:
        self.requests[name] = request
        failure = self.failures.get(name)
        if failure is not None:
            await context.abort(failure, "the user is not active")

    async def IssueToken(self, request: Any, context: Any) -> Any:
        await self._enter("IssueToken", request, context)
        return pb.IssueTokenResponse(
            token=JWT,
            jti="jti-1",
            issued_at=_stamp(1_800_000_000),
            expires_at=_stamp(1_800_000_900),
        )

    async def CheckToken(self, request: Any, context: Any) -> Any:
        await self._enter("CheckToken", request, context)
        return pb.CheckTokenResponse(
            active=self.active,
            reason=self.reason,
            claims=pb.TokenClaims(
                sub=USER_ID,
                org=ORG_ID,
                jti="jti-1",
                iss="rivane",
                issued_at=_stamp(1_800_000_000),
                expires_at=_stamp(1_800_000_900),
                roles=["finance.approver", "staff"],
            ),
        )

    async def RevokeUser(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the gateway never calls it")

    async def GetJwks(self, request: Any, context: Any) -> Any:
        await self._enter("GetJwks", request, context)
        return pb.GetJwksResponse(jwks_json=JWKS)

    async def ListRevocations(self, request: Any, context: Any) -> Any:
        await self._enter("ListRevocations", request, context)
        return pb.ListRevocationsResponse(
            revocations=[
                pb.Revocation(
                    event_id=EVENT_ID,
                    source="direct",
                    tokens_revoked=2,
                    latency_ms=48,
                    request_received_at=_stamp(1_800_000_100),
                    completed_at=_stamp(1_800_000_100.048),
                )
            ]
        )


@dataclass
class FakeIdentityWithAudit(FakeIdentity):
    """The fake identity service, plus orgs by name and audit rows."""

    async def GetOrg(self, request: Any, context: Any) -> Any:
        await self._enter("GetOrg", request, context)
        return identity_pb2.Org(org_id=ORG_ID, name=request.name)

    async def ListUserAudit(self, request: Any, context: Any) -> Any:
        await self._enter("ListUserAudit", request, context)
        deactivation = identity_pb2.AuditEntry(
            event_id=EVENT_ID,
            action="DEACTIVATE",
            version=2,
            topic="scim.user_deprovisioned",
            request_received_at=_stamp(1_800_000_100),
            occurred_at=_stamp(1_800_000_100.02),
            published_at=_stamp(1_800_000_100.07),
            source="SCIM",
            token_id="7d3c1f60-0000-4000-8000-0000000000b2",
            before_json='{"status": "ACTIVE"}',
            after_json='{"status": "INACTIVE"}',
        )
        return identity_pb2.ListUserAuditResponse(entries=[deactivation])


@pytest.fixture
async def fake_identity() -> AsyncIterator[FakeIdentity]:
    yield FakeIdentityWithAudit()


@pytest.fixture
def fake_revocation() -> FakeRevocation:
    return FakeRevocation()


@pytest.fixture
async def revocation_addr(fake_revocation: FakeRevocation) -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=grpc_server_interceptors())
    session_revocation_pb2_grpc.add_SessionRevocationServiceServicer_to_server(
        fake_revocation, server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
def settings(settings: StackSettings, revocation_addr: str) -> StackSettings:
    """The gateway tests' settings, with the fake revocation service."""
    return settings.model_copy(
        update={"revocation_addr": revocation_addr, "internal_token": INTERNAL_TOKEN}
    )


@pytest.fixture
async def internal(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding the internal credential."""
    async with client_for(app, Authorization=f"Bearer {INTERNAL_TOKEN}") as http:
        yield http


async def test_an_active_token_is_introspected_with_rfc_7662_fields(
    internal: httpx.AsyncClient, fake_revocation: FakeRevocation
) -> None:
    response = await internal.post("/oauth2/introspect", data={"token": JWT})

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "active": True,
        "token_type": "Bearer",
        "sub": USER_ID,
        "org": ORG_ID,
        "jti": "jti-1",
        "iss": "rivane",
        "iat": 1_800_000_000,
        "exp": 1_800_000_900,
        "roles": ["finance.approver", "staff"],
    }
    assert fake_revocation.requests["CheckToken"].token == JWT


@pytest.mark.parametrize(
    "reason",
    [
        pb.INACTIVE_REASON_REVOKED,
        pb.INACTIVE_REASON_EXPIRED,
        pb.INACTIVE_REASON_BAD_SIGNATURE,
        pb.INACTIVE_REASON_USER_NOT_ACTIVE,
    ],
)
async def test_an_inactive_token_is_only_active_false(
    internal: httpx.AsyncClient,
    fake_revocation: FakeRevocation,
    reason: pb.InactiveReason.ValueType,
) -> None:
    fake_revocation.active, fake_revocation.reason = False, reason

    response = await internal.post("/oauth2/introspect", data={"token": JWT})

    # RFC 7662 §2.2: nothing about an inactive token but that it is inactive.
    assert response.status_code == 200
    assert response.json() == {"active": False}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Bearer {TOKEN}", f"Basic {ADMIN_TOKEN}"]
)
async def test_introspection_and_sessions_need_an_internal_credential(
    app: FastAPI, fake_revocation: FakeRevocation, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with client_for(app, **headers) as client:
        introspected = await client.post("/oauth2/introspect", data={"token": JWT})
        issued = await client.post(
            "/sessions", json={"org_id": ORG_ID, "user_id": USER_ID}
        )

    assert (introspected.status_code, issued.status_code) == (401, 401)
    assert fake_revocation.requests == {}


async def test_the_admin_credential_is_accepted_as_internal(app: FastAPI) -> None:
    async with client_for(app, Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = await admin.post("/oauth2/introspect", data={"token": JWT})

    assert response.status_code == 200


async def test_introspection_takes_a_form_with_one_token(
    internal: httpx.AsyncClient, fake_revocation: FakeRevocation
) -> None:
    as_json = await internal.post("/oauth2/introspect", json={"token": JWT})
    without = await internal.post("/oauth2/introspect", data={"hint": "x"})
    twice = await internal.post(
        "/oauth2/introspect",
        content=f"token={JWT}&token={JWT}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert as_json.status_code == 415
    assert (without.status_code, twice.status_code) == (400, 400)
    assert "CheckToken" not in fake_revocation.requests


async def test_sessions_issue_a_token_for_a_user(
    internal: httpx.AsyncClient, fake_revocation: FakeRevocation
) -> None:
    response = await internal.post(
        "/sessions", json={"org_id": ORG_ID, "user_id": USER_ID, "ttl_seconds": 60}
    )

    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["access_token"] == JWT
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    request = fake_revocation.requests["IssueToken"]
    assert (request.org_id, request.user_id, request.ttl_seconds) == (
        ORG_ID,
        USER_ID,
        60,
    )


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (grpc.StatusCode.FAILED_PRECONDITION, 403),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
    ],
)
async def test_sessions_report_why_no_token_was_issued(
    internal: httpx.AsyncClient,
    fake_revocation: FakeRevocation,
    failure: grpc.StatusCode,
    status: int,
) -> None:
    fake_revocation.failures["IssueToken"] = failure

    response = await internal.post(
        "/sessions", json={"org_id": ORG_ID, "user_id": USER_ID}
    )

    assert response.status_code == status
    assert response.json()["status"] == str(status)


@pytest.mark.parametrize(
    "body", [{"org_id": ORG_ID}, {"org_id": ORG_ID, "user_id": 7}, {"user_id": "x"}]
)
async def test_sessions_need_an_org_and_a_user(
    internal: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await internal.post("/sessions", json=body)

    assert response.status_code == 400


async def test_the_jwk_set_is_public(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.json()["keys"][0]["kid"] == "k1"
    assert "max-age" in response.headers["cache-control"]


async def test_the_audit_chain_joins_each_change_with_its_revocation(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    async with client_for(app, Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = await admin.get(f"/admin/orgs/acme/users/{USER_ID}/audit")

    assert response.status_code == 200
    (change,) = response.json()["changes"]
    assert change["action"] == "DEACTIVATE"
    # Who made the change, and what it changed.
    assert change["source"] == "SCIM"
    assert change["token_id"] == "7d3c1f60-0000-4000-8000-0000000000b2"
    assert (change["before"], change["after"]) == (
        {"status": "ACTIVE"},
        {"status": "INACTIVE"},
    )
    assert change["request_received_at"] < change["state_changed_at"]
    assert change["state_changed_at"] < change["event_published_at"]
    assert change["revocation"] == {
        "completed_at": "2027-01-15T08:01:40.048Z",
        "source": "direct",
        "tokens_revoked": 2,
        "latency_ms": 48,
    }
    assert fake_identity.requests["GetOrg"].name == "acme"


async def test_the_audit_chain_is_for_admins_only(app: FastAPI) -> None:
    async with client_for(app, Authorization=f"Bearer {INTERNAL_TOKEN}") as caller:
        response = await caller.get(f"/admin/orgs/acme/users/{USER_ID}/audit")

    assert response.status_code == 401


@pytest.fixture
async def gateway_url(settings: StackSettings) -> AsyncIterator[str]:
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    listening: socket.socket = server.servers[0].sockets[0]
    yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    server.should_exit = True
    await asyncio.to_thread(thread.join, 10)


async def test_scimctl_session_issue_prints_a_token_for_the_org_name(
    monkeypatch: pytest.MonkeyPatch,
    gateway_url: str,
    fake_revocation: FakeRevocation,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RIVANE_GATEWAY_URL", gateway_url)
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", ADMIN_TOKEN)

    status = await asyncio.to_thread(
        main, ["session", "issue", "--org", "acme", "--user", USER_ID]
    )

    out, err = capsys.readouterr()
    assert (status, out, err) == (0, f"{JWT}\n", "")
    request = fake_revocation.requests["IssueToken"]
    assert (request.org_id, request.user_id) == (ORG_ID, USER_ID)
