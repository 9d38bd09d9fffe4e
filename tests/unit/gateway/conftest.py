"""Gateway tests: the real app against fake identity and group-mapping services.

The fakes serve real gRPC on free ports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, TOKEN, FakeIdentity, client_for
from group_mapping_fakes import FakeGroupMapping
from identity_admin_fakes import FakeIdentityAdmin

from gateway.app import create_app
from protos.rivane.group_mapping.v1 import group_mapping_pb2_grpc
from protos.rivane.identity.v1 import admin_pb2_grpc, identity_pb2_grpc
from services.common.settings import StackSettings
from services.common.telemetry import grpc_server_interceptors


@pytest.fixture
async def fake_identity() -> AsyncIterator[FakeIdentity]:
    yield FakeIdentity()


@pytest.fixture
async def fake_identity_admin(
    fake_identity: FakeIdentity,
) -> AsyncIterator[FakeIdentityAdmin]:
    yield FakeIdentityAdmin(identity=fake_identity)


@pytest.fixture
async def identity_addr(
    fake_identity: FakeIdentity, fake_identity_admin: FakeIdentityAdmin
) -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=grpc_server_interceptors())
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(fake_identity, server)
    admin_pb2_grpc.add_IdentityAdminServiceServicer_to_server(
        fake_identity_admin, server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
async def fake_group_mapping() -> AsyncIterator[FakeGroupMapping]:
    yield FakeGroupMapping()


@pytest.fixture
async def group_mapping_addr(
    fake_group_mapping: FakeGroupMapping,
) -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=grpc_server_interceptors())
    group_mapping_pb2_grpc.add_GroupMappingServiceServicer_to_server(
        fake_group_mapping, server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
def settings(identity_addr: str, group_mapping_addr: str) -> StackSettings:
    return StackSettings(
        environment="test",
        identity_addr=identity_addr,
        group_mapping_addr=group_mapping_addr,
        admin_token=ADMIN_TOKEN,
        public_base_url="",
        # No Redis in unit tests: every token is resolved, none rate-limited.
        token_cache_seconds=0,
        rate_limit_per_second=0,
    )


@pytest.fixture
async def app(settings: StackSettings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding the org's SCIM token."""
    async with client_for(app, Authorization=f"Bearer {TOKEN}") as http:
        yield http


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no credentials."""
    async with client_for(app) as http:
        yield http
