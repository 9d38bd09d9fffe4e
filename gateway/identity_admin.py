"""Client of the identity service's admin contract: orgs, tokens, credentials, audit.

Like the identity client, every call has a deadline and every failure is
translated here, once, into the `ScimError` the gateway's handler renders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, cast

import grpc
from fastapi import Depends, Request
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.identity import DEFAULT_TIMEOUT_SECONDS, translate_rpc_error
from protos.rivane.identity.v1 import admin_pb2 as pb
from protos.rivane.identity.v1 import admin_pb2_grpc as pb_grpc
from services.common.channels import client_channel


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class IdentityAdminClient:
    """Typed calls to `rivane.identity.v1.IdentityAdminService`."""

    def __init__(self, stub: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._stub = stub
        self._timeout = timeout

    async def create_org(self, *, name: str, admin: pb.AdminContext) -> Any:
        """Create an org; 409 when the name is taken."""
        request = pb.CreateOrgRequest(name=name, admin=admin)
        return await self._call(self._stub.CreateOrg, request)

    async def list_orgs(self) -> list[Any]:
        """Return every org with its count of live tokens."""
        reply = await self._call(self._stub.ListOrgs, pb.ListOrgsRequest())
        return list(reply.orgs)

    async def issue_token(
        self,
        *,
        org_name: str,
        name: str,
        expires_at: datetime | None,
        create_org: bool,
        admin: pb.AdminContext,
    ) -> Any:
        """Issue a SCIM token; the answer holds its secret, once."""
        request = pb.IssueTokenRequest(
            org_name=org_name,
            name=name,
            expires_at=_timestamp(expires_at),
            create_org=create_org,
            admin=admin,
        )
        return await self._call(self._stub.IssueToken, request)

    async def list_tokens(self, *, org_name: str) -> list[Any]:
        """Return every token of an org, newest first."""
        request = pb.ListTokensRequest(org_name=org_name)
        reply = await self._call(self._stub.ListTokens, request)
        return list(reply.tokens)

    async def revoke_token(
        self, *, org_name: str, token_id: str, admin: pb.AdminContext
    ) -> Any:
        """Revoke a token of an org."""
        request = pb.RevokeTokenRequest(
            org_name=org_name, token_id=token_id, admin=admin
        )
        return await self._call(self._stub.RevokeToken, request)

    async def set_token_expiry(
        self,
        *,
        org_name: str,
        token_id: str,
        expires_at: datetime | None,
        admin: pb.AdminContext,
    ) -> Any:
        """Set when a token stops working; None: never."""
        request = pb.SetTokenExpiryRequest(
            org_name=org_name,
            token_id=token_id,
            expires_at=_timestamp(expires_at),
            admin=admin,
        )
        return await self._call(self._stub.SetTokenExpiry, request)

    async def rotate_token(
        self,
        *,
        org_name: str,
        token_id: str,
        grace_seconds: int,
        name: str,
        admin: pb.AdminContext,
    ) -> Any:
        """Issue a new token and let the old one expire after the grace period."""
        request = pb.RotateTokenRequest(
            org_name=org_name,
            token_id=token_id,
            grace_seconds=grace_seconds,
            name=name,
            admin=admin,
        )
        return await self._call(self._stub.RotateToken, request)

    async def register_bootstrap_admin(self, *, token_hash: str) -> Any:
        """Return the audit identity of the configured admin credential."""
        request = pb.RegisterBootstrapAdminRequest(token_hash=token_hash)
        return await self._call(self._stub.RegisterBootstrapAdmin, request)

    async def resolve_admin_credential(self, *, secret: str) -> Any:
        """Return the issued admin credential of a secret, or raise `Unauthorized`."""
        request = pb.ResolveAdminCredentialRequest(secret=secret)
        return await self._call(self._stub.ResolveAdminCredential, request)

    async def create_admin_credential(
        self, *, name: str, admin: pb.AdminContext
    ) -> Any:
        """Issue an admin credential; the answer holds its secret, once."""
        request = pb.CreateAdminCredentialRequest(name=name, admin=admin)
        return await self._call(self._stub.CreateAdminCredential, request)

    async def list_admin_credentials(self) -> list[Any]:
        """Return every admin credential, oldest first."""
        request = pb.ListAdminCredentialsRequest()
        reply = await self._call(self._stub.ListAdminCredentials, request)
        return list(reply.credentials)

    async def revoke_admin_credential(
        self, *, credential_id: str, admin: pb.AdminContext
    ) -> Any:
        """Revoke an issued admin credential."""
        request = pb.RevokeAdminCredentialRequest(
            credential_id=credential_id, admin=admin
        )
        return await self._call(self._stub.RevokeAdminCredential, request)

    async def list_admin_audit(
        self, *, org_name: str, action: str, limit: int, before: datetime | None
    ) -> list[Any]:
        """Return admin audit rows, newest first."""
        request = pb.ListAdminAuditRequest(
            org_name=org_name, action=action, limit=limit, before=_timestamp(before)
        )
        reply = await self._call(self._stub.ListAdminAudit, request)
        return list(reply.entries)

    async def _call(self, method: Callable[..., Awaitable[Any]], request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            translated = translate_rpc_error(exc)
            if translated is None:
                raise
            raise translated from exc


@asynccontextmanager
async def identity_admin_client(
    address: str, *, stub: Any = None
) -> AsyncIterator[IdentityAdminClient]:
    """Return a client on its own channel to `address` (or on `stub`) until the end."""
    if stub is not None:
        yield IdentityAdminClient(stub)
        return
    # The interceptors carry the request's trace context in gRPC metadata.
    async with client_channel(address) as channel:
        yield IdentityAdminClient(pb_grpc.IdentityAdminServiceStub(channel))


def get_identity_admin(request: Request) -> IdentityAdminClient:
    """Return the admin client the app opened at startup."""
    return cast(IdentityAdminClient, request.app.state.identity_admin)


IdentityAdmin = Annotated[IdentityAdminClient, Depends(get_identity_admin)]
