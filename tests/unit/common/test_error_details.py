"""Error details stay small enough to cross gRPC, whatever a client sent."""

from __future__ import annotations

import grpc
import pytest

from services.common.errors import (
    MAX_DETAIL,
    InvalidValue,
    NotFound,
    error_metadata,
    from_rpc_error,
)
from services.common.grpc_edge import unary_edge


def test_a_long_detail_is_cut_with_an_ellipsis() -> None:
    error = NotFound(f"User {'€' * 20_000} not found")

    assert len(error.detail) == MAX_DETAIL
    assert error.detail.startswith("User €€€")
    assert error.detail.endswith("...")
    assert str(error) == error.detail


def test_a_short_detail_is_kept_whole() -> None:
    assert InvalidValue("count must be positive").detail == "count must be positive"


class _Echo:
    @unary_edge
    async def Echo(self, request: str, context: grpc.aio.ServicerContext) -> str:
        raise NotFound(f"no resource {request}")


@pytest.fixture
async def echo_address() -> str:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                _Echo().Echo,
                request_deserializer=bytes.decode,
                response_serializer=str.encode,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_an_error_quoting_a_huge_id_reaches_the_caller_as_itself(
    echo_address: str,
) -> None:
    async with grpc.aio.insecure_channel(echo_address) as channel:
        call = channel.unary_unary(
            "/test.Echo/Echo",
            request_serializer=str.encode,
            response_deserializer=bytes.decode,
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call("é" * 30_000, timeout=10)

    rebuilt = from_rpc_error(raised.value)
    assert isinstance(rebuilt, NotFound), raised.value
    assert rebuilt.detail.startswith("no resource ééé")
    assert len(rebuilt.detail) <= MAX_DETAIL
    assert dict(error_metadata(rebuilt))
