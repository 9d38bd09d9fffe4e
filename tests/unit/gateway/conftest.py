"""Gateway tests: the real app against a fake identity service on real gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, TOKEN, FakeIdentity, client_for

from gateway.app import create_app
from protos.rivane.identity.v1 import identity_pb2_grpc
from services.common.settings import StackSettings
from services.common.telemetry import grpc_server_interceptors


@pytest.fixture
async def fake_identity() -> AsyncIterator[FakeIdentity]:
    yield FakeIdentity()


@pytest.fixture
async def identity_addr(fake_identity: FakeIdentity) -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=grpc_server_interceptors())
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(fake_identity, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
def settings(identity_addr: str) -> StackSettings:
    return StackSettings(
        environment="test",
        identity_addr=identity_addr,
        admin_token=ADMIN_TOKEN,
        public_base_url="",
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
