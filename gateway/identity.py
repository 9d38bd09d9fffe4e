"""Client of the identity service: the gateway's one gRPC boundary.

Every call has a deadline, and every failure is translated here, once: the
`ScimError` a service raised comes back from its trailers, an unreachable or
slow service becomes `ServiceUnavailable`, and anything else stays an error
of ours for the catch-all to log.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import grpc
from fastapi import Depends, Request

from gateway.errors import ServiceUnavailable
from protos.rivane.identity.v1 import identity_pb2
from services.common.errors import (
    NotFound,
    ScimError,
    Unauthorized,
    from_rpc_error,
    rebuild_error,
)

DEFAULT_TIMEOUT_SECONDS = 10.0

_UNAVAILABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """The org and token a bearer secret belongs to, and when the token expires."""

    org_id: str
    token_id: str
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UserQuery:
    """A normalised list or search query (RFC 7644 §3.4.2)."""

    filter: str
    start_index: int
    count: int
    sort_by: str
    sort_order: str


class IdentityClient:
    """Typed calls to `rivane.identity.v1.IdentityService`."""

    def __init__(self, stub: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._stub = stub
        self._timeout = timeout

    async def resolve_token(self, token: str) -> TokenOwner:
        """Return the owner of a bearer secret, or raise `Unauthorized`."""
        request = identity_pb2.ResolveTokenRequest(token=token)
        reply = await self._call(self._stub.ResolveToken, request)
        expires_at = (
            reply.expires_at.ToDatetime(tzinfo=UTC)
            if reply.HasField("expires_at")
            else None
        )
        return TokenOwner(
            org_id=str(reply.org_id),
            token_id=str(reply.token_id),
            expires_at=expires_at,
        )

    async def create_user(
        self, *, org_id: str, resource: Mapping[str, Any], context: Any
    ) -> Any:
        """Provision a user from the SCIM body the client sent."""
        request = identity_pb2.CreateUserRequest(
            org_id=org_id, resource_json=json.dumps(resource), context=context
        )
        return await self._call(self._stub.CreateUser, request)

    async def create_users(
        self,
        *,
        org_id: str,
        resources: Sequence[str],
        context: Any,
        max_errors: int = 0,
    ) -> list[Any]:
        """Provision users from SCIM bodies (JSON texts) in one transaction.

        Each item is answered with the new user's id and version or its
        `ScimError`, in order; with `max_errors`, only the items up to the one
        making that many failures.
        """
        request = identity_pb2.CreateUsersRequest(
            org_id=org_id,
            resources_json=list(resources),
            context=context,
            max_errors=max_errors,
        )
        reply = await self._call(self._stub.CreateUsers, request)
        return [
            result.user
            if result.HasField("user")
            else rebuild_error(
                status=result.error.status,
                scim_type=result.error.scim_type or None,
                detail=result.error.detail,
            )
            for result in reply.results
        ]

    async def get_user(self, *, org_id: str, user_id: str) -> Any:
        """Return one user of the org."""
        request = identity_pb2.GetUserRequest(org_id=org_id, user_id=user_id)
        return await self._call(self._stub.GetUser, request)

    async def list_users(self, *, org_id: str, query: UserQuery) -> Any:
        """Return one page of the org's users and the total that matched."""
        request = identity_pb2.ListUsersRequest(
            org_id=org_id,
            filter=query.filter,
            start_index=query.start_index,
            count=query.count,
            sort_by=query.sort_by,
            sort_order=query.sort_order,
        )
        return await self._call(self._stub.ListUsers, request)

    async def replace_user(
        self,
        *,
        org_id: str,
        user_id: str,
        resource: Mapping[str, Any],
        context: Any,
        expected_version: int,
    ) -> Any:
        """Replace a user's attributes with the SCIM body sent (PUT)."""
        request = identity_pb2.ReplaceUserRequest(
            org_id=org_id,
            user_id=user_id,
            resource_json=json.dumps(resource),
            context=context,
            expected_version=expected_version,
        )
        return await self._call(self._stub.ReplaceUser, request)

    async def patch_user(
        self,
        *,
        org_id: str,
        user_id: str,
        patch: Mapping[str, Any],
        context: Any,
        expected_version: int,
    ) -> Any:
        """Apply a SCIM PatchOp to a user; return the user as it now is."""
        request = identity_pb2.PatchUserRequest(
            org_id=org_id,
            user_id=user_id,
            patch_json=json.dumps(patch),
            context=context,
            expected_version=expected_version,
        )
        reply = await self._call(self._stub.PatchUser, request)
        return reply.user

    async def delete_user(
        self, *, org_id: str, user_id: str, context: Any, expected_version: int = 0
    ) -> None:
        """Deprovision a user, if it is at `expected_version` when one is given."""
        request = identity_pb2.DeleteUserRequest(
            org_id=org_id,
            user_id=user_id,
            context=context,
            expected_version=expected_version,
        )
        await self._call(self._stub.DeleteUser, request)

    async def get_org(self, *, name: str) -> Any:
        """Return the org called `name` (its id and name), or raise `NotFound`."""
        return await self._call(
            self._stub.GetOrg, identity_pb2.GetOrgRequest(name=name)
        )

    async def list_user_audit(self, *, org_id: str, user_id: str) -> list[Any]:
        """Return a user's audit rows with their events' publication, oldest first."""
        request = identity_pb2.ListUserAuditRequest(org_id=org_id, user_id=user_id)
        reply = await self._call(self._stub.ListUserAudit, request)
        return list(reply.entries)

    async def register_schema(
        self,
        *,
        org_id: str,
        document: Mapping[str, Any],
        required: bool,
        request_id: str,
        credential_id: str,
    ) -> Any:
        """Add or change a User extension schema of the org; return it and `created`."""
        request = identity_pb2.RegisterSchemaRequest(
            org_id=org_id,
            schema_json=json.dumps(document),
            required=required,
            request_id=request_id,
            credential_id=credential_id,
        )
        return await self._call(self._stub.RegisterSchema, request)

    async def list_schemas(self, *, org_id: str) -> list[Any]:
        """Return the User extension schemas the org registered."""
        request = identity_pb2.ListSchemasRequest(org_id=org_id)
        reply = await self._call(self._stub.ListSchemas, request)
        return list(reply.schemas)

    async def delete_schema(
        self, *, org_id: str, urn: str, request_id: str, credential_id: str
    ) -> None:
        """Remove a User extension schema of the org."""
        request = identity_pb2.DeleteSchemaRequest(
            org_id=org_id, urn=urn, request_id=request_id, credential_id=credential_id
        )
        await self._call(self._stub.DeleteSchema, request)

    async def _call(self, method: Callable[..., Awaitable[Any]], request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            translated = translate_rpc_error(exc)
            if translated is None:
                raise
            raise translated from exc


def translate_rpc_error(error: grpc.aio.AioRpcError) -> ScimError | None:
    """Return the SCIM error a failed call means, or None when it is ours."""
    rebuilt = from_rpc_error(error)
    if rebuilt is not None:
        return rebuilt

    code = error.code()
    if code in _UNAVAILABLE:
        return ServiceUnavailable("the identity service is unavailable; retry later")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthorized("unknown bearer token")
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(error.details() or "resource not found")
    return None


def get_identity(request: Request) -> IdentityClient:
    """Return the identity client the app opened at startup."""
    return cast(IdentityClient, request.app.state.identity)


Identity = Annotated[IdentityClient, Depends(get_identity)]
