"""A fake identity service and the constants the gateway tests share.

The fake keeps users in memory and raises SCIM errors the way the identity
service does, with the SCIM status and `scimType` in trailing metadata. It
records every call, so tests can tell what the gateway asked for, and what it
did not.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc
import httpx
from fastapi import FastAPI
from google.protobuf.timestamp_pb2 import Timestamp

from protos.rivane.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common.bearer_tokens import CredentialKind, compose
from services.common.errors import (
    InvalidFilter,
    InvalidValue,
    NotFound,
    PreconditionFailed,
    ScimError,
    Unauthorized,
    Uniqueness,
    error_metadata,
    grpc_code_for,
)

ORG_ID = "0b7f6c2e-0000-4000-8000-00000000a11c"
TOKEN_ID = "5d1e2f3a-0000-4000-8000-0000000070c1"
# Well-formed credentials with readable secrets, so that no scanner takes
# them for leaked ones.
TOKEN = compose(CredentialKind.SCIM, "UnitTestScimTokenOfTheAcmeOrg".ljust(43, "0"))
ADMIN_TOKEN = compose(CredentialKind.ADMIN, "UnitTestAdminCredential".ljust(43, "0"))
BASE = "http://gateway.test"
SCIM = f"{BASE}/scim/v2"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
USER_RPCS = frozenset(
    {"CreateUser", "GetUser", "ListUsers", "ReplaceUser", "PatchUser", "DeleteUser"}
)


def user_body(user_name: str = "ada@example.test", **extra: Any) -> dict[str, Any]:
    """Return a SCIM User body as IdPs send it."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        **extra,
    }


@dataclass
class _Stored:
    org_id: str
    attributes: dict[str, Any]
    version: int
    created: datetime
    last_modified: datetime


@dataclass
class FakeIdentity(identity_pb2_grpc.IdentityServiceServicer):
    """In-memory IdentityService that records what it was asked."""

    tokens: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {TOKEN: (ORG_ID, TOKEN_ID)}
    )
    users: dict[str, _Stored] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    # Token secret -> when the token expires, for the tokens that do.
    expiries: dict[str, datetime] = field(default_factory=dict)
    # Method name -> what happens instead of an answer: a SCIM error sent as
    # the service edge sends it, a bare gRPC status, or a crash.
    failures: dict[str, Exception | grpc.StatusCode] = field(default_factory=dict)

    async def _enter(self, name: str, request: Any, context: Any) -> None:
        self.calls.append(name)
        self.requests[name] = request
        self.metadata[name] = {
            key: value
            for key, value in context.invocation_metadata()
            if isinstance(value, str)
        }
        failure = self.failures.get(name)
        if isinstance(failure, ScimError):
            await _abort(context, failure)
        if isinstance(failure, grpc.StatusCode):
            await context.abort(failure, "the fake was told to fail")
        if failure is not None:
            raise failure

    def user_calls(self) -> list[str]:
        return [name for name in self.calls if name in USER_RPCS]

    async def ResolveToken(self, request: Any, context: Any) -> Any:
        await self._enter("ResolveToken", request, context)
        owner = self.tokens.get(request.token)
        if owner is None:
            await _abort(context, Unauthorized("unknown bearer token"))
        org_id, token_id = owner
        reply = identity_pb2.ResolveTokenResponse(org_id=org_id, token_id=token_id)
        if request.token in self.expiries:
            reply.expires_at.CopyFrom(_timestamp(self.expiries[request.token]))
        return reply

    async def CreateUser(self, request: Any, context: Any) -> Any:
        await self._enter("CreateUser", request, context)
        attributes = json.loads(request.resource_json)
        user_name = attributes.get("userName")
        if not isinstance(user_name, str) or not user_name:
            await _abort(context, InvalidValue("userName is required"))
        if self._find(request.org_id, user_name) is not None:
            await _abort(context, Uniqueness(f"userName {user_name!r} is taken"))

        now = datetime.now(UTC)
        user_id = str(uuid.uuid4())
        attributes.pop("meta", None)
        self.users[user_id] = _Stored(request.org_id, attributes, 1, now, now)
        return self._message(user_id)

    async def GetUser(self, request: Any, context: Any) -> Any:
        await self._enter("GetUser", request, context)
        await self._require(request.org_id, request.user_id, context)
        return self._message(request.user_id)

    async def ListUsers(self, request: Any, context: Any) -> Any:
        await self._enter("ListUsers", request, context)
        matches = [
            user_id
            for user_id, stored in self.users.items()
            if stored.org_id == request.org_id
        ]
        if request.filter:
            parts = request.filter.split(" ", 2)
            if len(parts) != 3 or parts[:2] != ["userName", "eq"]:
                await _abort(context, InvalidFilter("unsupported filter"))
            wanted = json.loads(parts[2])
            found = self._find(request.org_id, wanted)
            matches = [found] if found else []
        start = request.start_index - 1
        page = matches[start : start + request.count]
        return identity_pb2.ListUsersResponse(
            total_results=len(matches), users=[self._message(u) for u in page]
        )

    async def ReplaceUser(self, request: Any, context: Any) -> Any:
        await self._enter("ReplaceUser", request, context)
        stored = await self._require(request.org_id, request.user_id, context)
        await self._check_version(stored, request.expected_version, context)
        attributes = json.loads(request.resource_json)
        attributes.pop("id", None)
        attributes.pop("meta", None)
        self._change(stored, attributes)
        return self._message(request.user_id)

    async def PatchUser(self, request: Any, context: Any) -> Any:
        await self._enter("PatchUser", request, context)
        stored = await self._require(request.org_id, request.user_id, context)
        await self._check_version(stored, request.expected_version, context)
        attributes = dict(stored.attributes)
        for operation in json.loads(request.patch_json).get("Operations", []):
            if "path" in operation:
                attributes[operation["path"]] = operation["value"]
            else:
                attributes.update(operation["value"])
        changed = attributes != stored.attributes
        if changed:
            self._change(stored, attributes)
        return identity_pb2.PatchUserResponse(
            user=self._message(request.user_id), changed=changed
        )

    async def DeleteUser(self, request: Any, context: Any) -> Any:
        await self._enter("DeleteUser", request, context)
        await self._require(request.org_id, request.user_id, context)
        del self.users[request.user_id]
        return identity_pb2.DeleteUserResponse()

    def _find(self, org_id: str, user_name: str) -> str | None:
        for user_id, stored in self.users.items():
            same_name = str(stored.attributes["userName"]).lower() == user_name.lower()
            if stored.org_id == org_id and same_name:
                return user_id
        return None

    async def _require(self, org_id: str, user_id: str, context: Any) -> _Stored:
        stored = self.users.get(user_id)
        if stored is None or stored.org_id != org_id:
            await _abort(context, NotFound(f"no user {user_id}"))
        return stored

    async def _check_version(
        self, stored: _Stored, expected: int, context: Any
    ) -> None:
        if expected and expected != stored.version:
            await _abort(context, PreconditionFailed("the user has changed"))

    def _change(self, stored: _Stored, attributes: dict[str, Any]) -> None:
        stored.attributes = attributes
        stored.version += 1
        stored.last_modified = datetime.now(UTC)

    def _message(self, user_id: str) -> Any:
        stored = self.users[user_id]
        return identity_pb2.User(
            id=user_id,
            org_id=stored.org_id,
            resource_json=json.dumps(stored.attributes),
            status="ACTIVE" if stored.attributes.get("active", True) else "INACTIVE",
            version=stored.version,
            created=_timestamp(stored.created),
            last_modified=_timestamp(stored.last_modified),
        )


async def _abort(context: Any, error: ScimError) -> NoReturn:
    """End the call the way the identity service's gRPC edge does."""
    await context.abort(
        grpc_code_for(error), error.detail, trailing_metadata=error_metadata(error)
    )
    raise AssertionError("abort returned")


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def client_for(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    """Return a client that calls `app` in process."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers
    )
