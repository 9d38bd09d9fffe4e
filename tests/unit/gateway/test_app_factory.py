"""The app factory: its own gRPC channel, or a stub handed to it."""

from __future__ import annotations

import grpc
from gateway_fakes import SCIM, TOKEN, FakeIdentity, client_for

from gateway.app import create_app
from protos.rivane.identity.v1 import identity_pb2_grpc
from services.common.settings import StackSettings


async def test_app_uses_a_stub_it_is_given(
    settings: StackSettings, identity_addr: str, fake_identity: FakeIdentity
) -> None:
    unreachable = settings.model_copy(update={"identity_addr": "127.0.0.1:1"})
    async with grpc.aio.insecure_channel(identity_addr) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        app = create_app(unreachable, identity_stub=stub)

        async with app.router.lifespan_context(app):
            async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
                response = await client.get(f"{SCIM}/Users")

    assert response.status_code == 200
    assert fake_identity.calls == ["ResolveToken", "ListUsers"]


async def test_openapi_describes_the_routes_from_their_docstrings(
    settings: StackSettings,
) -> None:
    app = create_app(settings)

    async with client_for(app) as client:
        schema = (await client.get("/openapi.json")).json()

    create = schema["paths"]["/scim/v2/Users"]["post"]
    assert create["description"].startswith("Provision a user")
    assert "/admin/orgs/{org}/tokens" in schema["paths"]
