"""The /Groups endpoint (RFC 7644 §3.2 to §3.6): parse, authorise, call, render."""

from __future__ import annotations

from fastapi import APIRouter, Response
from opentelemetry import trace

from gateway.auth import ScimCaller
from gateway.body import JsonObject
from gateway.context import AuditContext, ScimBaseUrl
from gateway.etags import ExpectedVersion, HeldVersions, not_modified, weak_etag
from gateway.group_mapping import GroupMapping, GroupView
from gateway.group_resources import group_list_response, group_response, wants_members
from gateway.listing import ListQuery, search_request
from gateway.projection import Projection
from gateway.responses import ScimResponse

router = APIRouter(prefix="/Groups", tags=["Groups"])


def _tag_resource(group_id: str) -> None:
    trace.get_current_span().set_attribute("scim.resource_id", group_id)


@router.post("", status_code=201, response_class=ScimResponse)
async def create_group(
    caller: ScimCaller,
    body: JsonObject,
    groups: GroupMapping,
    context: AuditContext,
    base_url: ScimBaseUrl,
    selection: Projection,
) -> ScimResponse:
    """Create a group in the caller's org, with its members (RFC 7644 §3.3).

    Members must be users of the same org; an unknown or foreign id is refused
    with 400 invalidValue naming it, and nothing is created.
    """
    view = await groups.create_group(
        org_id=caller.org_id, resource=body, context=context
    )
    _tag_resource(str(view.group.id))
    return group_response(view, base_url=base_url, selection=selection, status_code=201)


@router.get("", response_class=ScimResponse)
async def list_groups(
    caller: ScimCaller,
    query: ListQuery,
    groups: GroupMapping,
    base_url: ScimBaseUrl,
    selection: Projection,
) -> ScimResponse:
    """List or filter the caller's groups, one page at a time (RFC 7644 §3.4.2).

    Filters on `displayName`, `externalId` and `members.value` are served;
    `excludedAttributes=members` leaves members unread.
    """
    page = await groups.list_groups(
        org_id=caller.org_id, query=query, include_members=wants_members(selection)
    )
    return group_list_response(
        page, query=query, base_url=base_url, selection=selection
    )


@router.post("/.search", response_class=ScimResponse)
async def search_groups(
    caller: ScimCaller,
    body: JsonObject,
    groups: GroupMapping,
    base_url: ScimBaseUrl,
) -> ScimResponse:
    """Query the caller's groups with a SearchRequest body (RFC 7644 §3.4.3)."""
    query, selection = search_request(body)
    page = await groups.list_groups(
        org_id=caller.org_id, query=query, include_members=wants_members(selection)
    )
    return group_list_response(
        page, query=query, base_url=base_url, selection=selection
    )


@router.get("/{group_id}", response_class=ScimResponse)
async def get_group(
    group_id: str,
    caller: ScimCaller,
    groups: GroupMapping,
    base_url: ScimBaseUrl,
    selection: Projection,
    held: HeldVersions,
) -> Response:
    """Return one of the caller's groups (RFC 7644 §3.4.1).

    With If-None-Match naming the group's version, answer 304 and no body;
    the members are not read for it.
    """
    _tag_resource(group_id)
    if held.any_version or held.versions:
        bare = await groups.get_group(
            org_id=caller.org_id, group_id=group_id, include_members=False
        )
        if held.matches(int(bare.group.version)):
            return not_modified(int(bare.group.version))
    view = await groups.get_group(
        org_id=caller.org_id,
        group_id=group_id,
        include_members=wants_members(selection),
    )
    return group_response(view, base_url=base_url, selection=selection)


@router.put("/{group_id}", response_class=ScimResponse)
async def replace_group(
    group_id: str,
    caller: ScimCaller,
    body: JsonObject,
    groups: GroupMapping,
    context: AuditContext,
    version: ExpectedVersion,
    base_url: ScimBaseUrl,
    selection: Projection,
) -> ScimResponse:
    """Replace a group's attributes and members with the body sent (RFC 7644 §3.5.1)."""
    _tag_resource(group_id)
    view = await groups.replace_group(
        org_id=caller.org_id,
        group_id=group_id,
        resource=body,
        context=context,
        expected_version=version,
    )
    return group_response(view, base_url=base_url, selection=selection)


@router.patch("/{group_id}", response_class=Response)
async def patch_group(
    group_id: str,
    caller: ScimCaller,
    body: JsonObject,
    groups: GroupMapping,
    context: AuditContext,
    version: ExpectedVersion,
    base_url: ScimBaseUrl,
    selection: Projection,
) -> Response:
    """Apply a PatchOp to a group (RFC 7644 §3.5.2).

    Answers 204 with the new ETag, so that adding one member to a big group
    does not send the group back; with `attributes` or `excludedAttributes`
    it answers 200 with the group as asked. A PATCH that changes nothing
    leaves the version as it was.
    """
    _tag_resource(group_id)
    group = await groups.patch_group(
        org_id=caller.org_id,
        group_id=group_id,
        patch=body,
        context=context,
        expected_version=version,
    )
    if not (selection.attributes or selection.excluded):
        return Response(
            status_code=204, headers={"ETag": weak_etag(int(group.version))}
        )

    # RFC 7644 §3.5.2: with "attributes", the server returns 200 and them.
    view = (
        await groups.get_group(
            org_id=caller.org_id, group_id=group_id, include_members=True
        )
        if wants_members(selection)
        else GroupView(group=group, member_ids=None)
    )
    return group_response(view, base_url=base_url, selection=selection)


@router.delete("/{group_id}", status_code=204, response_class=Response)
async def delete_group(
    group_id: str,
    caller: ScimCaller,
    groups: GroupMapping,
    context: AuditContext,
    version: ExpectedVersion,
) -> Response:
    """Delete a group; its members lose the roles it granted (RFC 7644 §3.6).

    If-Match makes it conditional.
    """
    _tag_resource(group_id)
    await groups.delete_group(
        org_id=caller.org_id,
        group_id=group_id,
        context=context,
        expected_version=version,
    )
    return Response(status_code=204)
