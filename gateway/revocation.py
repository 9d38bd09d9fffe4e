"""Client of the session revocation service: access tokens and revocations.

Like the identity client, every call has a deadline and every failure is
translated here, once: an unreachable service becomes `ServiceUnavailable`,
a user who may not have a token becomes `Forbidden`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import grpc
from fastapi import Depends, Request

from gateway.errors import ServiceUnavailable
from protos.rivane.session_revocation.v1 import session_revocation_pb2 as pb
from protos.rivane.session_revocation.v1 import session_revocation_pb2_grpc as pb_grpc
from services.common.channels import client_channel
from services.common.errors import InvalidValue, ScimError

DEFAULT_TIMEOUT_SECONDS = 5.0

_UNAVAILABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)


class Forbidden(ScimError):
    """The caller may not have what it asked for."""

    status = 403


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    """A new access token and when it expires."""

    token: str
    jti: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The revocation service's verdict on a token.

    `reason` is the InactiveReason's name, for logs; it is not sent to the
    caller of the introspection endpoint.
    """

    active: bool
    reason: str
    sub: str = ""
    org: str = ""
    jti: str = ""
    iss: str = ""
    iat: int = 0
    exp: int = 0
    roles: tuple[str, ...] = ()


class RevocationClient:
    """Typed calls to `rivane.session_revocation.v1.SessionRevocationService`."""

    def __init__(self, stub: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._stub = stub
        self._timeout = timeout

    async def issue_token(
        self, *, org_id: str, user_id: str, ttl_seconds: int
    ) -> IssuedAccessToken:
        """Issue an access token for an active user of the org."""
        request = pb.IssueTokenRequest(
            org_id=org_id, user_id=user_id, ttl_seconds=ttl_seconds
        )
        reply = await self._call(self._stub.IssueToken, request)
        return IssuedAccessToken(
            token=str(reply.token),
            jti=str(reply.jti),
            issued_at=reply.issued_at.ToDatetime(tzinfo=UTC),
            expires_at=reply.expires_at.ToDatetime(tzinfo=UTC),
        )

    async def check_token(self, token: str) -> TokenCheck:
        """Return whether `token` is active, and whose it is when it verified."""
        reply = await self._call(
            self._stub.CheckToken, pb.CheckTokenRequest(token=token)
        )
        reason = pb.InactiveReason.Name(reply.reason)
        if not reply.HasField("claims"):
            return TokenCheck(active=bool(reply.active), reason=reason)
        claims = reply.claims
        return TokenCheck(
            active=bool(reply.active),
            reason=reason,
            sub=claims.sub,
            org=claims.org,
            jti=claims.jti,
            iss=claims.iss,
            iat=claims.issued_at.seconds,
            exp=claims.expires_at.seconds,
            roles=tuple(claims.roles),
        )

    async def jwks(self) -> dict[str, Any]:
        """Return the JWK Set of the keys that sign access tokens."""
        reply = await self._call(self._stub.GetJwks, pb.GetJwksRequest())
        document: dict[str, Any] = json.loads(reply.jwks_json)
        return document

    async def list_revocations(self, *, org_id: str, user_id: str) -> list[Any]:
        """Return the user's completed revocations, oldest first."""
        request = pb.ListRevocationsRequest(org_id=org_id, user_id=user_id)
        reply = await self._call(self._stub.ListRevocations, request)
        return list(reply.revocations)

    async def _call(self, method: Callable[..., Awaitable[Any]], request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            translated = translate_rpc_error(exc)
            if translated is None:
                raise
            raise translated from exc


def translate_rpc_error(error: grpc.aio.AioRpcError) -> ScimError | None:
    """Return the error a failed call means to our caller, or None when it is ours."""
    code = error.code()
    if code in _UNAVAILABLE:
        return ServiceUnavailable(
            "the session revocation service is unavailable; retry later"
        )
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return Forbidden(error.details() or "the user is not active")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidValue(error.details() or "invalid request")
    return None


@asynccontextmanager
async def revocation_client(
    address: str, *, stub: Any = None
) -> AsyncIterator[RevocationClient]:
    """Open the channel to the revocation service, or use a ready `stub` (tests)."""
    if stub is not None:
        yield RevocationClient(stub)
        return
    # Like every channel, it dials on the first call, not here.
    channel = client_channel(address)
    try:
        yield RevocationClient(pb_grpc.SessionRevocationServiceStub(channel))
    finally:
        await channel.close()


def get_revocation(request: Request) -> RevocationClient:
    """Return the revocation client the app opened at startup."""
    return cast(RevocationClient, request.app.state.revocation)


Revocation = Annotated[RevocationClient, Depends(get_revocation)]
