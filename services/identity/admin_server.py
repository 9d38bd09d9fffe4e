"""gRPC edge of the identity service's admin contract: protobuf in, domain calls out."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from protos.rivane.identity.v1 import admin_pb2 as pb
from protos.rivane.identity.v1 import admin_pb2_grpc as pb_grpc
from services.common.documents import check_text
from services.common.errors import InvalidValue
from services.common.grpc_edge import Context, unary_edge
from services.identity.admin_audit import AdminAuditEntry, AdminAuditLog, AdminContext
from services.identity.admin_credentials import (
    AdminCredentialRecord,
    AdminCredentials,
    AdminIdentity,
)
from services.identity.orgs import OrgDirectory, OrgSummary
from services.identity.tokens import IssuedToken, TokenRecord, TokenStore


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _optional_time(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    moment: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    return moment


def _admin(context: pb.AdminContext) -> AdminContext:
    # Every admin change names its admin in the audit log, or does not happen.
    check_text(context.request_id, what="request id")
    try:
        credential_id = uuid.UUID(context.credential_id)
    except ValueError:
        raise InvalidValue("an admin change needs the admin credential id") from None
    return AdminContext(
        credential_id=credential_id, request_id=context.request_id or "-"
    )


def _org(org: OrgSummary) -> pb.OrgInfo:
    return pb.OrgInfo(
        org_id=str(org.org_id),
        name=org.name,
        created_at=_timestamp(org.created_at),
        live_tokens=org.live_tokens,
    )


def _token(token: TokenRecord) -> pb.TokenInfo:
    message = pb.TokenInfo(
        token_id=str(token.token_id),
        org_id=str(token.org_id),
        org_name=token.org_name,
        name=token.name,
        prefix=token.prefix,
        created_at=_timestamp(token.created_at),
    )
    for field in ("last_used_at", "expires_at", "revoked_at"):
        moment = getattr(token, field)
        if moment is not None:
            getattr(message, field).CopyFrom(_timestamp(moment))
    return message


def _issued(issued: IssuedToken) -> pb.IssuedToken:
    return pb.IssuedToken(
        token=_token(issued.token), secret=issued.secret, org_created=issued.org_created
    )


def _identity(identity: AdminIdentity) -> pb.AdminIdentity:
    return pb.AdminIdentity(
        credential_id=str(identity.credential_id), name=identity.name
    )


def _credential(record: AdminCredentialRecord) -> pb.AdminCredentialInfo:
    message = pb.AdminCredentialInfo(
        credential_id=str(record.credential_id),
        name=record.name,
        kind=record.kind,
        prefix=record.prefix,
        created_at=_timestamp(record.created_at),
    )
    for field in ("last_used_at", "revoked_at"):
        moment = getattr(record, field)
        if moment is not None:
            getattr(message, field).CopyFrom(_timestamp(moment))
    return message


def _audit_entry(entry: AdminAuditEntry) -> pb.AdminAuditEntry:
    return pb.AdminAuditEntry(
        audit_id=str(entry.audit_id),
        occurred_at=_timestamp(entry.occurred_at),
        actor_credential_id=str(entry.actor_credential_id or ""),
        actor_name=entry.actor_name,
        action=entry.action,
        org_id=str(entry.org_id or ""),
        org_name=entry.org_name,
        target=entry.target,
        details_json=json.dumps(entry.details),
        request_id=entry.request_id,
    )


class IdentityAdminServicer(pb_grpc.IdentityAdminServiceServicer):
    """Serve `rivane.identity.v1.IdentityAdminService`."""

    def __init__(
        self,
        *,
        orgs: OrgDirectory,
        tokens: TokenStore,
        credentials: AdminCredentials,
        audit: AdminAuditLog,
    ) -> None:
        self._orgs = orgs
        self._tokens = tokens
        self._credentials = credentials
        self._audit = audit

    @unary_edge
    async def CreateOrg(self, request: pb.CreateOrgRequest, context: Context) -> Any:
        org = await self._orgs.create(name=request.name, admin=_admin(request.admin))
        return _org(org)

    @unary_edge
    async def ListOrgs(self, request: pb.ListOrgsRequest, context: Context) -> Any:
        return pb.ListOrgsResponse(orgs=[_org(org) for org in await self._orgs.list()])

    @unary_edge
    async def IssueToken(self, request: pb.IssueTokenRequest, context: Context) -> Any:
        issued = await self._tokens.issue(
            org_name=request.org_name,
            name=request.name,
            expires_at=_optional_time(request, "expires_at"),
            create_org=request.create_org,
            admin=_admin(request.admin),
        )
        return _issued(issued)

    @unary_edge
    async def ListTokens(self, request: pb.ListTokensRequest, context: Context) -> Any:
        tokens = await self._tokens.list(org_name=request.org_name)
        return pb.ListTokensResponse(tokens=[_token(token) for token in tokens])

    @unary_edge
    async def RevokeToken(
        self, request: pb.RevokeTokenRequest, context: Context
    ) -> Any:
        token = await self._tokens.revoke(
            org_name=request.org_name,
            token_id=request.token_id,
            admin=_admin(request.admin),
        )
        return _token(token)

    @unary_edge
    async def SetTokenExpiry(
        self, request: pb.SetTokenExpiryRequest, context: Context
    ) -> Any:
        token = await self._tokens.set_expiry(
            org_name=request.org_name,
            token_id=request.token_id,
            expires_at=_optional_time(request, "expires_at"),
            admin=_admin(request.admin),
        )
        return _token(token)

    @unary_edge
    async def RotateToken(
        self, request: pb.RotateTokenRequest, context: Context
    ) -> Any:
        rotation = await self._tokens.rotate(
            org_name=request.org_name,
            token_id=request.token_id,
            grace=timedelta(seconds=request.grace_seconds),
            name=request.name,
            admin=_admin(request.admin),
        )
        return pb.RotateTokenResponse(
            issued=_issued(rotation.issued), retired=_token(rotation.retired)
        )

    @unary_edge
    async def RegisterBootstrapAdmin(
        self, request: pb.RegisterBootstrapAdminRequest, context: Context
    ) -> Any:
        identity = await self._credentials.register_bootstrap(
            token_hash=request.token_hash
        )
        return _identity(identity)

    @unary_edge
    async def ResolveAdminCredential(
        self, request: pb.ResolveAdminCredentialRequest, context: Context
    ) -> Any:
        return _identity(await self._credentials.resolve(request.secret))

    @unary_edge
    async def CreateAdminCredential(
        self, request: pb.CreateAdminCredentialRequest, context: Context
    ) -> Any:
        issued = await self._credentials.create(
            name=request.name, admin=_admin(request.admin)
        )
        return pb.IssuedAdminCredential(
            credential=_credential(issued.credential), secret=issued.secret
        )

    @unary_edge
    async def ListAdminCredentials(
        self, request: pb.ListAdminCredentialsRequest, context: Context
    ) -> Any:
        records = await self._credentials.list()
        return pb.ListAdminCredentialsResponse(
            credentials=[_credential(record) for record in records]
        )

    @unary_edge
    async def RevokeAdminCredential(
        self, request: pb.RevokeAdminCredentialRequest, context: Context
    ) -> Any:
        record = await self._credentials.revoke(
            credential_id=request.credential_id, admin=_admin(request.admin)
        )
        return _credential(record)

    @unary_edge
    async def ListAdminAudit(
        self, request: pb.ListAdminAuditRequest, context: Context
    ) -> Any:
        org_id = None
        if request.org_name:
            org_id = (await self._orgs.find(request.org_name)).org_id
        entries = await self._audit.list(
            org_id=org_id,
            action=request.action,
            limit=request.limit,
            before=_optional_time(request, "before"),
        )
        return pb.ListAdminAuditResponse(
            entries=[_audit_entry(entry) for entry in entries]
        )
