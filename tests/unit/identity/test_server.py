"""The gRPC edge of the identity service: what a caller sees when a call fails."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from protos.rivane.identity.v1 import identity_pb2 as pb
from protos.rivane.identity.v1 import identity_pb2_grpc as pb_grpc
from services.identity.server import IdentityServicer

ORG_ID = str(uuid.uuid4())
SECRET_SQL = "INSERT INTO \"user\" VALUES ('ada@example.test')"


class _BrokenUsers:
    """A user service whose every call fails as a database error would."""

    def __init__(self) -> None:
        self.calls = 0

    async def create(self, **_: Any) -> Any:
        self.calls += 1
        raise RuntimeError(SECRET_SQL)


@pytest.fixture
async def users() -> _BrokenUsers:
    return _BrokenUsers()


@pytest.fixture
async def stub(users: _BrokenUsers) -> AsyncIterator[Any]:
    server = grpc.aio.server()
    servicer = IdentityServicer(
        users=users,  # type: ignore[arg-type]
        tokens=None,  # type: ignore[arg-type]
        orgs=None,  # type: ignore[arg-type]
        audit=None,  # type: ignore[arg-type]
    )
    pb_grpc.add_IdentityServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.IdentityServiceStub(channel)
    await server.stop(None)


def _create(resource_json: str, *, request_id: str = "req-1") -> Any:
    return pb.CreateUserRequest(
        org_id=ORG_ID,
        resource_json=resource_json,
        context=pb.RequestContext(request_id=request_id),
    )


async def test_unexpected_error_is_internal_without_its_text(
    stub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, grpc sent the exception text, SQL and bound values included.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateUser(_create('{"userName": "ada@example.test"}'))

    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == "internal error"
    assert dict(raised.value.trailing_metadata() or ()).get("scim-status") is None
    logged = [r for r in caplog.records if r.name == "services.identity.server"]
    assert [r.levelno for r in logged] == [logging.ERROR]
    assert getattr(logged[0], "request_id", None) == "req-1"


@pytest.mark.parametrize(
    ("resource_json", "scim_type"),
    [
        ('{"userName": "ada", "x": NaN}', "invalidSyntax"),
        ('{"userName": ' + "[" * 5000 + "]" * 5000 + "}", "invalidSyntax"),
        ('{"userName": "ada\\u0000"}', "invalidValue"),
        ('{"userName": "ada\\ud800"}', "invalidValue"),
    ],
)
async def test_body_the_database_cannot_take_is_a_scim_400(
    stub: Any, users: _BrokenUsers, resource_json: str, scim_type: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateUser(_create(resource_json))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    trailers = dict(raised.value.trailing_metadata() or ())
    assert trailers["scim-status"] == "400"
    assert trailers["scim-type"] == scim_type
    assert users.calls == 0


async def test_request_id_the_audit_cannot_store_is_a_scim_400(
    stub: Any, users: _BrokenUsers
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateUser(_create('{"userName": "ada"}', request_id="r\x00"))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert users.calls == 0
