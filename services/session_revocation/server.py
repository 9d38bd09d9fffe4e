"""gRPC edge of the session revocation service: protobuf in, status codes out."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from protos.rivane.session_revocation.v1 import session_revocation_pb2 as pb
from protos.rivane.session_revocation.v1 import session_revocation_pb2_grpc as pb_grpc
from services.session_revocation.errors import RevocationError
from services.session_revocation.keys import SigningKey
from services.session_revocation.records import CompletedRevocation
from services.session_revocation.revocations import (
    RevocationNotice,
    Revoker,
    Source,
    parse_uuid,
)
from services.session_revocation.sessions import SessionService
from services.session_revocation.tokens import Claims, Reason

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, Context], Awaitable[Response]]

REASONS: dict[Reason | None, pb.InactiveReason.ValueType] = {
    None: pb.INACTIVE_REASON_UNSPECIFIED,
    Reason.MALFORMED: pb.INACTIVE_REASON_MALFORMED,
    Reason.BAD_SIGNATURE: pb.INACTIVE_REASON_BAD_SIGNATURE,
    Reason.EXPIRED: pb.INACTIVE_REASON_EXPIRED,
    Reason.REVOKED: pb.INACTIVE_REASON_REVOKED,
    Reason.USER_NOT_ACTIVE: pb.INACTIVE_REASON_USER_NOT_ACTIVE,
}


def edge(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Answer a `RevocationError` with its status; log anything else once."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Request, context: Context) -> Response:
        try:
            return await handler(self, request, context)
        except RevocationError as error:
            await context.abort(error.code, str(error))
            raise  # unreachable: abort raises
        except Exception:
            logger.exception("unhandled error in %s", handler.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            raise  # unreachable: abort raises

    return wrapper


def _timestamp(value: datetime | float) -> Timestamp:
    stamp = Timestamp()
    if isinstance(value, datetime):
        stamp.FromDatetime(value)
    else:
        stamp.FromNanoseconds(int(value * 1_000_000_000))
    return stamp


def _instant(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    value: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    return value


def _claims(claims: Claims) -> pb.TokenClaims:
    return pb.TokenClaims(
        sub=claims.sub,
        org=claims.org,
        jti=claims.jti,
        iss=claims.iss,
        issued_at=_timestamp(claims.iat),
        expires_at=_timestamp(claims.exp),
        roles=list(claims.roles),
    )


def to_message(revocation: CompletedRevocation) -> pb.Revocation:
    """Render a completed revocation for the wire."""
    return pb.Revocation(
        event_id=str(revocation.event_id),
        org_id=str(revocation.org_id),
        user_id=str(revocation.user_id),
        action=revocation.action,
        source=revocation.source,
        request_id=revocation.request_id,
        request_received_at=_timestamp(revocation.request_received_at),
        occurred_at=_timestamp(revocation.occurred_at),
        completed_at=_timestamp(revocation.completed_at),
        latency_ms=round(revocation.latency.total_seconds() * 1000),
        tokens_revoked=revocation.tokens_revoked,
    )


class SessionRevocationServicer(pb_grpc.SessionRevocationServiceServicer):
    """Serve `rivane.session_revocation.v1.SessionRevocationService`."""

    def __init__(
        self, *, sessions: SessionService, revoker: Revoker, key: SigningKey
    ) -> None:
        self._sessions = sessions
        self._revoker = revoker
        self._jwks = json.dumps(key.jwks())

    @edge
    async def IssueToken(
        self, request: pb.IssueTokenRequest, context: Context
    ) -> pb.IssueTokenResponse:
        signed = await self._sessions.issue(
            org_id=request.org_id,
            user_id=request.user_id,
            ttl_seconds=request.ttl_seconds,
        )
        return pb.IssueTokenResponse(
            token=signed.token,
            jti=signed.claims.jti,
            issued_at=_timestamp(signed.claims.iat),
            expires_at=_timestamp(signed.claims.exp),
        )

    @edge
    async def CheckToken(
        self, request: pb.CheckTokenRequest, context: Context
    ) -> pb.CheckTokenResponse:
        verification = await self._sessions.check(request.token)
        claims = verification.claims
        return pb.CheckTokenResponse(
            active=verification.active,
            reason=REASONS[verification.reason],
            claims=_claims(claims) if claims is not None else None,
        )

    @edge
    async def RevokeUser(
        self, request: pb.RevokeUserRequest, context: Context
    ) -> pb.RevokeUserResponse:
        notice = RevocationNotice.build(
            org_id=request.org_id,
            user_id=request.user_id,
            event_id=request.event_id,
            action=request.action,
            request_id=request.request_id,
            request_received_at=_instant(request, "request_received_at"),
            occurred_at=_instant(request, "occurred_at"),
        )
        outcome = await self._revoker.apply(notice, source=Source.DIRECT)
        return pb.RevokeUserResponse(
            applied=outcome.first,
            tokens_revoked=outcome.revocation.tokens_revoked,
            completed_at=_timestamp(outcome.revocation.completed_at),
        )

    @edge
    async def GetJwks(
        self, request: pb.GetJwksRequest, context: Context
    ) -> pb.GetJwksResponse:
        return pb.GetJwksResponse(jwks_json=self._jwks)

    @edge
    async def ListRevocations(
        self, request: pb.ListRevocationsRequest, context: Context
    ) -> pb.ListRevocationsResponse:
        revocations = await self._revoker.for_user(
            org_id=parse_uuid(request.org_id, what="org_id"),
            user_id=parse_uuid(request.user_id, what="user_id"),
        )
        return pb.ListRevocationsResponse(
            revocations=[to_message(revocation) for revocation in revocations]
        )
