"""A fake of the identity service's admin contract, for the gateway tests.

It keeps orgs and tokens in memory and shares its token table with the fake
identity service, so a token it issues opens the SCIM API. Like the other
fakes it records each call and raises SCIM errors as the service's edge does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway_fakes import FakeIdentity, _abort
from google.protobuf.timestamp_pb2 import Timestamp

from protos.rivane.identity.v1 import admin_pb2, admin_pb2_grpc
from services.common.bearer_tokens import CredentialKind, mint, shown_prefix
from services.common.errors import NotFound, Unauthorized

BOOTSTRAP_ID = "7a1d0000-0000-4000-8000-00000000b007"
ISSUED_ADMIN_ID = "7a1d0000-0000-4000-8000-0000000015ed"


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


@dataclass
class FakeIdentityAdmin(admin_pb2_grpc.IdentityAdminServiceServicer):
    """In-memory IdentityAdminService that records what it was asked."""

    identity: FakeIdentity
    orgs: dict[str, str] = field(default_factory=dict)
    token_infos: dict[str, Any] = field(default_factory=dict)
    # Secret -> credential id of issued admin credentials.
    admin_secrets: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)

    def _enter(self, name: str, request: Any) -> None:
        self.calls.append(name)
        self.requests[name] = request

    def issue_admin_secret(self) -> str:
        """Return a new issued admin credential the fake accepts."""
        secret = mint(CredentialKind.ADMIN)
        self.admin_secrets[secret] = ISSUED_ADMIN_ID
        return secret

    async def RegisterBootstrapAdmin(self, request: Any, context: Any) -> Any:
        self._enter("RegisterBootstrapAdmin", request)
        return admin_pb2.AdminIdentity(credential_id=BOOTSTRAP_ID, name="bootstrap")

    async def ResolveAdminCredential(self, request: Any, context: Any) -> Any:
        self._enter("ResolveAdminCredential", request)
        credential_id = self.admin_secrets.get(request.secret)
        if credential_id is None:
            await _abort(context, Unauthorized("unknown admin credential"))
        return admin_pb2.AdminIdentity(credential_id=credential_id, name="ops")

    async def CreateOrg(self, request: Any, context: Any) -> Any:
        self._enter("CreateOrg", request)
        org_id = self.orgs.setdefault(request.name, str(uuid.uuid4()))
        return admin_pb2.OrgInfo(org_id=org_id, name=request.name, created_at=_now())

    async def IssueToken(self, request: Any, context: Any) -> Any:
        self._enter("IssueToken", request)
        if request.org_name not in self.orgs and not request.create_org:
            await _abort(context, NotFound(f"org {request.org_name!r} not found"))
        org_id = self.orgs.setdefault(request.org_name, str(uuid.uuid4()))
        secret = mint(CredentialKind.SCIM)
        info = admin_pb2.TokenInfo(
            token_id=str(uuid.uuid4()),
            org_id=org_id,
            org_name=request.org_name,
            name=request.name,
            prefix=shown_prefix(secret, kind=CredentialKind.SCIM),
            created_at=_now(),
        )
        if request.HasField("expires_at"):
            info.expires_at.CopyFrom(request.expires_at)
        self.identity.tokens[secret] = (org_id, info.token_id)
        self.token_infos[info.token_id] = info
        return admin_pb2.IssuedToken(token=info, secret=secret)

    async def ListTokens(self, request: Any, context: Any) -> Any:
        self._enter("ListTokens", request)
        tokens = [
            info
            for info in self.token_infos.values()
            if info.org_name == request.org_name
        ]
        return admin_pb2.ListTokensResponse(tokens=tokens)

    async def RevokeToken(self, request: Any, context: Any) -> Any:
        self._enter("RevokeToken", request)
        info = self.token_infos.get(request.token_id)
        if info is None or info.org_name != request.org_name:
            await _abort(context, NotFound("token not found"))
        info.revoked_at.CopyFrom(_now())
        for secret, (_, token_id) in list(self.identity.tokens.items()):
            if token_id == request.token_id:
                del self.identity.tokens[secret]
        return info

    async def RotateToken(self, request: Any, context: Any) -> Any:
        self._enter("RotateToken", request)
        live = [
            info
            for info in self.token_infos.values()
            if info.org_name == request.org_name and not info.HasField("revoked_at")
        ]
        if len(live) != 1:
            await _abort(context, NotFound("no single live token to rotate"))
        retired = live[0]
        ends = Timestamp()
        ends.FromDatetime(datetime.now(UTC) + timedelta(seconds=request.grace_seconds))
        retired.expires_at.CopyFrom(ends)
        issued = await self.IssueToken(
            admin_pb2.IssueTokenRequest(
                org_name=request.org_name, name=request.name or retired.name
            ),
            context,
        )
        return admin_pb2.RotateTokenResponse(issued=issued, retired=retired)
