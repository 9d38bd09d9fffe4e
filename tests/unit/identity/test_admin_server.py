"""The identity service's admin edge: no admin change without its admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from protos.rivane.identity.v1 import admin_pb2 as pb
from protos.rivane.identity.v1 import admin_pb2_grpc as pb_grpc
from services.identity.admin_server import IdentityAdminServicer


class _Orgs:
    """Counts the org creations that reach the domain."""

    def __init__(self) -> None:
        self.created = 0

    async def create(self, **_: Any) -> Any:
        self.created += 1
        raise AssertionError("an anonymous change reached the domain")


@pytest.fixture
async def orgs() -> _Orgs:
    return _Orgs()


@pytest.fixture
async def stub(orgs: _Orgs) -> AsyncIterator[Any]:
    server = grpc.aio.server()
    servicer = IdentityAdminServicer(
        orgs=orgs,  # type: ignore[arg-type]
        tokens=None,  # type: ignore[arg-type]
        credentials=None,  # type: ignore[arg-type]
        audit=None,  # type: ignore[arg-type]
    )
    pb_grpc.add_IdentityAdminServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.IdentityAdminServiceStub(channel)
    await server.stop(None)


@pytest.mark.parametrize("credential_id", ["", "bootstrap", "not-a-uuid"])
async def test_a_change_without_an_admin_credential_id_is_refused(
    stub: Any, orgs: _Orgs, credential_id: str
) -> None:
    request = pb.CreateOrgRequest(
        name="acme",
        admin=pb.AdminContext(credential_id=credential_id, request_id="req-1"),
    )

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateOrg(request)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    trailers = dict(raised.value.trailing_metadata() or ())
    assert trailers.get("scim-type") == "invalidValue"
    assert orgs.created == 0
