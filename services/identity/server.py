"""gRPC edge of the identity service: protobuf in, domain calls, status codes out."""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from protos.rivane.identity.v1 import identity_pb2 as pb
from protos.rivane.identity.v1 import identity_pb2_grpc as pb_grpc
from services.common.documents import check_text, load_object
from services.common.errors import (
    NotFound,
    ScimError,
    TooMany,
    Unauthorized,
    error_metadata,
    grpc_code_for,
)
from services.identity.admin_audit import AdminContext
from services.identity.audit import AuditEntry, AuditTrail
from services.identity.models import User, UserStatus
from services.identity.org_schemas import OrgSchemas, RegisteredSchema
from services.identity.orgs import OrgDirectory
from services.identity.scim.resource import visible_attributes, with_lifecycle
from services.identity.scim.schema import USER_SCHEMA, ResourceSchema
from services.identity.token_resolver import TokenResolver
from services.identity.user_batches import MAX_BATCH, Outcome, UserBatches
from services.identity.users import ChangeContext, UserService, parse_id

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, Context], Awaitable[Response]]


def scim_errors(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Turn a domain `ScimError` into a gRPC status the gateway can rebuild.

    Any other exception is logged here, once, and answered with a bare
    INTERNAL: its text (SQL and the values bound to it) stays in our log.
    """

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Request, context: Context) -> Response:
        try:
            return await handler(self, request, context)
        except ScimError as error:
            context.set_trailing_metadata(error_metadata(error))
            await context.abort(grpc_code_for(error), error.detail)
            raise  # unreachable: abort raises
        except Exception:
            logger.exception(
                "unhandled error in %s",
                handler.__name__,
                extra={"request_id": _request_id_of(request)},
            )
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            raise  # unreachable: abort raises

    return wrapper


def _request_id_of(request: Any) -> str:
    context = getattr(request, "context", None)
    return str(getattr(context, "request_id", "") or "-")


def _org(org_id: str) -> uuid.UUID:
    org = parse_id(org_id)
    if org is None:
        raise Unauthorized("request carries no valid org")
    return org


def _change_context(context: pb.RequestContext) -> ChangeContext:
    received = (
        context.received_at.ToDatetime(tzinfo=UTC)
        if context.HasField("received_at")
        else datetime.now(UTC)
    )
    check_text(context.request_id, what="request id")
    return ChangeContext(
        request_id=context.request_id or str(uuid.uuid4()),
        token_id=parse_id(context.token_id),
        received_at=received,
    )


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _audit_entry(entry: AuditEntry) -> pb.AuditEntry:
    message = pb.AuditEntry(
        event_id=str(entry.event_id),
        action=entry.action,
        request_id=entry.request_id,
        version=entry.version,
        topic=entry.topic,
        request_received_at=_timestamp(entry.request_received_at),
        occurred_at=_timestamp(entry.occurred_at),
        source=entry.source,
        token_id=str(entry.token_id or ""),
        before_json=json.dumps(entry.before) if entry.before is not None else "",
        after_json=json.dumps(entry.after) if entry.after is not None else "",
    )
    if entry.published_at is not None:
        message.published_at.CopyFrom(_timestamp(entry.published_at))
    return message


def to_message(user: User, *, schema: ResourceSchema = USER_SCHEMA) -> pb.User:
    """Render a stored user for the wire, without values returned never."""
    attributes = with_lifecycle(
        visible_attributes(user.attributes, schema=schema),
        active=user.status == UserStatus.ACTIVE,
    )
    return pb.User(
        id=str(user.user_id),
        org_id=str(user.org_id),
        resource_json=json.dumps(attributes),
        status=user.status,
        version=user.version,
        created=_timestamp(user.created_at),
        last_modified=_timestamp(user.updated_at),
    )


def _user_body(text: str) -> dict[str, Any] | ScimError:
    try:
        return load_object(text, what="User body")
    except ScimError as error:
        return error


def _create_result(outcome: Outcome) -> pb.CreateUserResult:
    if isinstance(outcome, ScimError):
        failure = pb.ScimFailure(
            status=outcome.status,
            scim_type=outcome.scim_type or "",
            detail=outcome.detail,
        )
        return pb.CreateUserResult(error=failure)
    created = pb.CreatedUser(id=str(outcome.user_id), version=outcome.version)
    return pb.CreateUserResult(user=created)


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    """Serve `rivane.identity.v1.IdentityService`."""

    def __init__(
        self,
        *,
        users: UserService,
        tokens: TokenResolver,
        orgs: OrgDirectory,
        audit: AuditTrail,
        schemas: OrgSchemas | None = None,
    ) -> None:
        self._users = users
        self._batches = UserBatches(users)
        self._tokens = tokens
        self._orgs = orgs
        self._audit = audit
        self._schemas = schemas

    async def _render(self, user: User) -> pb.User:
        return to_message(user, schema=await self._users.schema_for(org_id=user.org_id))

    @scim_errors
    async def CreateUser(
        self, request: pb.CreateUserRequest, context: Context
    ) -> pb.User:
        user = await self._users.create(
            org_id=_org(request.org_id),
            payload=load_object(request.resource_json, what="User body"),
            context=_change_context(request.context),
        )
        return await self._render(user)

    @scim_errors
    async def CreateUsers(
        self, request: pb.CreateUsersRequest, context: Context
    ) -> pb.CreateUsersResponse:
        if len(request.resources_json) > MAX_BATCH:
            raise TooMany(f"at most {MAX_BATCH} users are created in one call")
        org_id = _org(request.org_id)
        outcomes = await self._batches.create(
            org_id=org_id,
            payloads=[_user_body(text) for text in request.resources_json],
            context=_change_context(request.context),
            max_errors=max(request.max_errors, 0),
        )
        return pb.CreateUsersResponse(results=[_create_result(o) for o in outcomes])

    @scim_errors
    async def GetUser(self, request: pb.GetUserRequest, context: Context) -> pb.User:
        user = await self._users.get(
            org_id=_org(request.org_id), user_id=request.user_id
        )
        return await self._render(user)

    @scim_errors
    async def ListUsers(
        self, request: pb.ListUsersRequest, context: Context
    ) -> pb.ListUsersResponse:
        org_id = _org(request.org_id)
        schema = await self._users.schema_for(org_id=org_id)
        page = await self._users.list(
            org_id=org_id,
            filter_text=request.filter,
            start_index=max(request.start_index, 1),
            count=max(request.count, 0),
            sort_by=request.sort_by,
            descending=request.sort_order.lower() == "descending",
        )
        return pb.ListUsersResponse(
            total_results=page.total_results,
            users=[to_message(user, schema=schema) for user in page.users],
        )

    @scim_errors
    async def ReplaceUser(
        self, request: pb.ReplaceUserRequest, context: Context
    ) -> pb.User:
        user, _changed = await self._users.replace(
            org_id=_org(request.org_id),
            user_id=request.user_id,
            payload=load_object(request.resource_json, what="User body"),
            context=_change_context(request.context),
            expected_version=request.expected_version,
        )
        return await self._render(user)

    @scim_errors
    async def PatchUser(
        self, request: pb.PatchUserRequest, context: Context
    ) -> pb.PatchUserResponse:
        user, changed = await self._users.patch(
            org_id=_org(request.org_id),
            user_id=request.user_id,
            patch_body=load_object(request.patch_json, what="PatchOp body"),
            context=_change_context(request.context),
            expected_version=request.expected_version,
        )
        return pb.PatchUserResponse(user=await self._render(user), changed=changed)

    @scim_errors
    async def DeleteUser(
        self, request: pb.DeleteUserRequest, context: Context
    ) -> pb.DeleteUserResponse:
        await self._users.delete(
            org_id=_org(request.org_id),
            user_id=request.user_id,
            context=_change_context(request.context),
            expected_version=request.expected_version,
        )
        return pb.DeleteUserResponse()

    @scim_errors
    async def ResolveToken(
        self, request: pb.ResolveTokenRequest, context: Context
    ) -> pb.ResolveTokenResponse:
        owner = await self._tokens.resolve(request.token)
        reply = pb.ResolveTokenResponse(
            org_id=str(owner.org_id), token_id=str(owner.token_id)
        )
        if owner.expires_at is not None:
            reply.expires_at.CopyFrom(_timestamp(owner.expires_at))
        return reply

    @scim_errors
    async def GetOrg(self, request: pb.GetOrgRequest, context: Context) -> pb.Org:
        org = await self._orgs.find(request.name)
        return pb.Org(org_id=str(org.org_id), name=org.name)

    @scim_errors
    async def ListUserAudit(
        self, request: pb.ListUserAuditRequest, context: Context
    ) -> pb.ListUserAuditResponse:
        user_id = parse_id(request.user_id)
        if user_id is None:
            raise NotFound(f"User {request.user_id} not found")
        entries = await self._audit.for_user(
            org_id=_org(request.org_id), user_id=user_id
        )
        return pb.ListUserAuditResponse(entries=[_audit_entry(e) for e in entries])

    @scim_errors
    async def CheckUsers(
        self, request: pb.CheckUsersRequest, context: Context
    ) -> pb.CheckUsersResponse:
        existing = await self._users.existing(
            org_id=_org(request.org_id), user_ids=list(request.user_ids)
        )
        return pb.CheckUsersResponse(existing_ids=[str(uid) for uid in existing])

    @scim_errors
    async def RegisterSchema(
        self, request: pb.RegisterSchemaRequest, context: Context
    ) -> pb.RegisterSchemaResponse:
        registered, created = await self._org_schemas().register(
            org_id=_org(request.org_id),
            document=load_object(request.schema_json, what="Schema document"),
            required=request.required,
            admin=_admin_context(request.request_id, request.credential_id),
        )
        return pb.RegisterSchemaResponse(
            schema=_schema_message(registered), created=created
        )

    @scim_errors
    async def ListSchemas(
        self, request: pb.ListSchemasRequest, context: Context
    ) -> pb.ListSchemasResponse:
        schemas = await self._org_schemas().list(org_id=_org(request.org_id))
        return pb.ListSchemasResponse(schemas=[_schema_message(s) for s in schemas])

    @scim_errors
    async def DeleteSchema(
        self, request: pb.DeleteSchemaRequest, context: Context
    ) -> pb.DeleteSchemaResponse:
        check_text(request.urn, what="schema URN")
        await self._org_schemas().delete(
            org_id=_org(request.org_id),
            urn=request.urn,
            admin=_admin_context(request.request_id, request.credential_id),
        )
        return pb.DeleteSchemaResponse()

    def _org_schemas(self) -> OrgSchemas:
        if self._schemas is None:
            raise NotFound("org schemas are not served here")
        return self._schemas


def _admin_context(request_id: str, credential_id: str) -> AdminContext:
    check_text(request_id, what="request id")
    return AdminContext(
        credential_id=parse_id(credential_id), request_id=request_id or "-"
    )


def _schema_message(schema: RegisteredSchema) -> pb.OrgSchema:
    return pb.OrgSchema(
        urn=schema.urn,
        schema_json=json.dumps(schema.document),
        required=schema.required,
        version=schema.version,
        created_at=_timestamp(schema.created_at),
        updated_at=_timestamp(schema.updated_at),
    )
