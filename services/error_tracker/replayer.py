"""Replay an error's operation: one unary gRPC call to the service that owns it.

The request and response classes come from the descriptor pool, which holds
every contract of the stack once the generated modules are imported; the
operation stores the request in proto3 JSON, which survives adding fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

# Imported for their descriptors: the pool knows only what was imported.
from protos.rivane.error_tracker.v1 import error_tracker_pb2  # noqa: F401
from protos.rivane.group_mapping.v1 import group_mapping_pb2  # noqa: F401
from protos.rivane.identity.v1 import admin_pb2, identity_pb2  # noqa: F401
from protos.rivane.session_revocation.v1 import session_revocation_pb2  # noqa: F401
from services.common.channels import client_channel
from services.common.settings import StackSettings

# The package of a method names the service that answers it.
_PACKAGE_TARGETS = {
    "rivane.identity.v1": "identity",
    "rivane.group_mapping.v1": "group_mapping",
    "rivane.session_revocation.v1": "session_revocation",
}


@dataclass(frozen=True, slots=True)
class Operation:
    """One unary call, as an error stores it."""

    method: str
    request_json: str
    summary: str = ""
    target: str = ""

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Operation:
        """Read an operation from its stored JSON object."""
        return cls(
            method=str(stored.get("method", "")),
            request_json=str(stored.get("request_json", "")),
            summary=str(stored.get("summary", "")),
            target=str(stored.get("target", "")),
        )

    def stored(self) -> dict[str, str]:
        """Return the JSON object the error keeps."""
        return {
            "method": self.method,
            "request_json": self.request_json,
            "summary": self.summary,
            "target": self.target,
        }


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The gRPC status name of a replayed call and a short detail."""

    status_code: str
    detail: str


class UnknownOperation(ValueError):
    """The operation names no unary method of the stack, or a bad request."""


def addresses_of(settings: StackSettings) -> dict[str, str]:
    """Return the address of each service an operation may target."""
    return {
        "identity": settings.identity_addr,
        "group_mapping": settings.group_mapping_addr,
        "session_revocation": settings.revocation_addr,
    }


def resolve_call(operation: Operation) -> tuple[str, Message, type[Message]]:
    """Return the target service, the request and the response class of a call."""
    path = operation.method.strip("/").split("/")
    if len(path) != 2 or not all(path):
        raise UnknownOperation(f"not a full method name: {operation.method!r}")
    service_name, method_name = path
    try:
        service = descriptor_pool.Default().FindServiceByName(service_name)
    except KeyError as error:
        raise UnknownOperation(f"no service {service_name}") from error
    method = service.methods_by_name.get(method_name)
    if method is None or method.client_streaming or method.server_streaming:
        raise UnknownOperation(f"no unary method {operation.method}")

    target = operation.target or _PACKAGE_TARGETS.get(service.file.package, "")
    if not target:
        raise UnknownOperation(f"no service answers {operation.method}")
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    try:
        request = json_format.Parse(operation.request_json or "{}", request_class())
    except json_format.ParseError as error:
        raise UnknownOperation(f"bad request for {method_name}: {error}") from error
    return target, request, response_class


class Replayer:
    """Make the call of an operation over a channel kept per service."""

    def __init__(self, addresses: Mapping[str, str], *, timeout: float) -> None:
        self._addresses = dict(addresses)
        self._timeout = timeout
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def replay(self, operation: Operation) -> ReplayResult:
        """Call the operation once; answer its status, never raise for it."""
        try:
            target, request, response_class = resolve_call(operation)
        except UnknownOperation as error:
            return ReplayResult("INVALID_ARGUMENT", str(error))
        address = self._addresses.get(target)
        if not address:
            return ReplayResult("INVALID_ARGUMENT", f"no address for {target}")

        call = self._channel(target, address).unary_unary(
            operation.method,
            request_serializer=_serialize,
            response_deserializer=response_class.FromString,
        )
        try:
            await call(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                # A channel that failed to connect waits out its own backoff;
                # the next replay, maybe asked for by an admin because the
                # service is back, connects afresh instead.
                self._drop_channel(target)
            return ReplayResult(error.code().name, error.details() or "")
        return ReplayResult("OK", "")

    async def close(self) -> None:
        """Close every channel."""
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()
        if self._closing:
            await asyncio.wait(set(self._closing))

    def _drop_channel(self, target: str) -> None:
        channel = self._channels.pop(target, None)
        if channel is not None:
            # Calls of other replays on it may still be in flight.
            closing = asyncio.create_task(channel.close(grace=self._timeout))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def _channel(self, target: str, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(target)
        if channel is None:
            # The interceptors carry the replay's trace to the target.
            channel = client_channel(address)
            self._channels[target] = channel
        return channel


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
