"""The /Users endpoint (RFC 7644 §3.2 to §3.6): parse, authorise, call, render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from opentelemetry import trace

from gateway.auth import ScimCaller
from gateway.body import JsonObject
from gateway.context import AuditContext, ScimBaseUrl
from gateway.etags import ExpectedVersion, HeldVersions, not_modified
from gateway.group_mapping import GroupMapping, GroupMappingClient
from gateway.group_resources import user_groups
from gateway.identity import Identity, TokenOwner
from gateway.listing import ListQuery, search_request
from gateway.projection import AttributeSelection, Projection
from gateway.rendering import list_response, user_response
from gateway.responses import ScimResponse

router = APIRouter(prefix="/Users", tags=["Users"])


def _tag_resource(user_id: str) -> None:
    trace.get_current_span().set_attribute("scim.resource_id", user_id)


@router.post("", status_code=201, response_class=ScimResponse)
async def create_user(
    caller: ScimCaller,
    body: JsonObject,
    identity: Identity,
    context: AuditContext,
    base_url: ScimBaseUrl,
    selection: Projection,
) -> ScimResponse:
    """Provision a user in the caller's org (RFC 7644 §3.3)."""
    user = await identity.create_user(
        org_id=caller.org_id, resource=body, context=context
    )
    _tag_resource(str(user.id))
    return user_response(user, base_url=base_url, selection=selection, status_code=201)


@router.get("", response_class=ScimResponse)
async def list_users(
    caller: ScimCaller,
    query: ListQuery,
    identity: Identity,
    groups: GroupMapping,
    base_url: ScimBaseUrl,
    selection: Projection,
) -> ScimResponse:
    """List or filter the caller's users, one page at a time (RFC 7644 §3.4.2)."""
    reply = await identity.list_users(org_id=caller.org_id, query=query)
    memberships = await user_groups(
        reply.users,
        org_id=caller.org_id,
        selection=selection,
        groups=groups,
        base_url=base_url,
    )
    return list_response(
        reply.users,
        total=int(reply.total_results),
        query=query,
        base_url=base_url,
        selection=selection,
        groups=memberships,
    )


@router.post("/.search", response_class=ScimResponse)
async def search_users(
    caller: ScimCaller,
    body: JsonObject,
    identity: Identity,
    groups: GroupMapping,
    base_url: ScimBaseUrl,
) -> ScimResponse:
    """Query the caller's users with a SearchRequest body (RFC 7644 §3.4.3)."""
    query, selection = search_request(body)
    reply = await identity.list_users(org_id=caller.org_id, query=query)
    memberships = await user_groups(
        reply.users,
        org_id=caller.org_id,
        selection=selection,
        groups=groups,
        base_url=base_url,
    )
    return list_response(
        reply.users,
        total=int(reply.total_results),
        query=query,
        base_url=base_url,
        selection=selection,
        groups=memberships,
    )


@router.get("/{user_id}", response_class=ScimResponse)
async def get_user(
    user_id: str,
    caller: ScimCaller,
    identity: Identity,
    groups: GroupMapping,
    base_url: ScimBaseUrl,
    selection: Projection,
    held: HeldVersions,
) -> Response:
    """Return one of the caller's users and their groups (RFC 7644 §3.4.1).

    With If-None-Match naming the user's version, answer 304 and no body.
    """
    _tag_resource(user_id)
    user = await identity.get_user(org_id=caller.org_id, user_id=user_id)
    if held.matches(int(user.version)):
        return not_modified(int(user.version))
    return await _user_answer(
        user, caller=caller, groups=groups, base_url=base_url, selection=selection
    )


@router.put("/{user_id}", response_class=ScimResponse)
async def replace_user(
    user_id: str,
    caller: ScimCaller,
    body: JsonObject,
    identity: Identity,
    groups: GroupMapping,
    context: AuditContext,
    version: ExpectedVersion,
    base_url: ScimBaseUrl,
    selection: Projection,
) -> ScimResponse:
    """Replace a user's attributes with the body sent (RFC 7644 §3.5.1)."""
    _tag_resource(user_id)
    user = await identity.replace_user(
        org_id=caller.org_id,
        user_id=user_id,
        resource=body,
        context=context,
        expected_version=version,
    )
    return await _user_answer(
        user, caller=caller, groups=groups, base_url=base_url, selection=selection
    )


@router.patch("/{user_id}", response_class=ScimResponse)
async def patch_user(
    user_id: str,
    caller: ScimCaller,
    body: JsonObject,
    identity: Identity,
    groups: GroupMapping,
    context: AuditContext,
    version: ExpectedVersion,
    base_url: ScimBaseUrl,
    selection: Projection,
) -> ScimResponse:
    """Apply a PatchOp to a user and return it (RFC 7644 §3.5.2).

    The RFC allows 204, but IdPs read the changed user from the 200 body.
    """
    _tag_resource(user_id)
    user = await identity.patch_user(
        org_id=caller.org_id,
        user_id=user_id,
        patch=body,
        context=context,
        expected_version=version,
    )
    return await _user_answer(
        user, caller=caller, groups=groups, base_url=base_url, selection=selection
    )


@router.delete("/{user_id}", status_code=204, response_class=Response)
async def delete_user(
    user_id: str,
    caller: ScimCaller,
    identity: Identity,
    context: AuditContext,
    version: ExpectedVersion,
) -> Response:
    """Deprovision a user (RFC 7644 §3.6); If-Match makes it conditional."""
    _tag_resource(user_id)
    await identity.delete_user(
        org_id=caller.org_id,
        user_id=user_id,
        context=context,
        expected_version=version,
    )
    return Response(status_code=204)


async def _user_answer(
    user: Any,
    *,
    caller: TokenOwner,
    groups: GroupMappingClient,
    base_url: str,
    selection: AttributeSelection,
) -> ScimResponse:
    memberships = await user_groups(
        [user],
        org_id=caller.org_id,
        selection=selection,
        groups=groups,
        base_url=base_url,
    )
    return user_response(
        user,
        base_url=base_url,
        selection=selection,
        groups=memberships.get(str(user.id), ()),
    )
