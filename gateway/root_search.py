"""A search of every resource type at once: POST /.search (RFC 7644 §3.4.3).

The answer lists the caller's Users, then its Groups, each in the order its
own endpoint lists them, so `startIndex` and `count` page through one
sequence: a page that begins among the users goes on with the groups. A
filter applies to each resource type that defines what it names; a type that
does not contributes no resource, and only a filter that neither type
accepts is refused. `sortBy` is refused here: Users and Groups are kept by
two services, so no single query could order them together.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter

from gateway.auth import ScimCaller
from gateway.body import JsonObject
from gateway.context import ScimBaseUrl
from gateway.group_mapping import GroupMapping, GroupMappingClient, GroupPage
from gateway.group_resources import (
    group_representations,
    user_groups,
    wants_members,
)
from gateway.identity import Identity, IdentityClient, TokenOwner, UserQuery
from gateway.listing import search_request
from gateway.projection import AttributeSelection
from gateway.rendering import list_body, user_representations
from gateway.responses import ScimResponse
from services.common.errors import InvalidFilter, InvalidValue

router = APIRouter(tags=["Search"])


@router.post("/.search", response_class=ScimResponse)
async def search_all(
    caller: ScimCaller,
    body: JsonObject,
    identity: Identity,
    groups: GroupMapping,
    base_url: ScimBaseUrl,
) -> ScimResponse:
    """Query the caller's Users and Groups with one SearchRequest (RFC 7644 §3.4.3)."""
    query, selection = search_request(body)
    if query.sort_by:
        raise InvalidValue(
            "sortBy is served by /Users/.search and /Groups/.search; "
            "a search at the root lists Users, then Groups"
        )

    users, user_total, user_error = await _user_page(
        query, caller=caller, identity=identity
    )
    group_query = groups_part(query, user_total=user_total, users_listed=len(users))
    page, group_error = await _group_page(
        group_query, caller=caller, groups=groups, selection=selection
    )
    if user_error is not None and group_error is not None:
        raise user_error

    memberships = await user_groups(
        users,
        org_id=caller.org_id,
        selection=selection,
        groups=groups,
        base_url=base_url,
    )
    resources = [
        *user_representations(
            users, base_url=base_url, selection=selection, groups=memberships
        ),
        *group_representations(
            page.groups[: group_query.count], base_url=base_url, selection=selection
        ),
    ]
    total = user_total + page.total_results
    return ScimResponse(
        list_body(resources, total=total, start_index=query.start_index)
    )


def groups_part(query: UserQuery, *, user_total: int, users_listed: int) -> UserQuery:
    """Return the query of the groups' part of a page: where the users' part ends.

    Resource `user_total + k` of the sequence is the k-th group, so a page
    that starts past the users starts that far into the groups, and one that
    starts among them takes what room the users leave.
    """
    return replace(
        query,
        start_index=max(query.start_index - user_total, 1),
        count=query.count - users_listed,
    )


async def _user_page(
    query: UserQuery, *, caller: TokenOwner, identity: IdentityClient
) -> tuple[list[Any], int, InvalidFilter | None]:
    try:
        reply = await identity.list_users(org_id=caller.org_id, query=query)
    except InvalidFilter as error:
        return [], 0, error
    return list(reply.users)[: query.count], int(reply.total_results), None


async def _group_page(
    query: UserQuery,
    *,
    caller: TokenOwner,
    groups: GroupMappingClient,
    selection: AttributeSelection,
) -> tuple[GroupPage, InvalidFilter | None]:
    try:
        page = await groups.list_groups(
            org_id=caller.org_id,
            query=query,
            include_members=wants_members(selection),
        )
    except InvalidFilter as error:
        return GroupPage(total_results=0, groups=[]), error
    return page, None
