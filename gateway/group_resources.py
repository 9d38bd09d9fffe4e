"""SCIM representations of groups, and of the groups a user belongs to.

Members come from the group-mapping service as user ids; the gateway gives
each its `$ref` and `type` (RFC 7643 §4.2). A user's `groups` attribute is
read from the same service in one call for all the users of an answer, and
only when the answer shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway import urns
from gateway.group_mapping import GroupMappingClient, GroupPage, GroupView
from gateway.identity import UserQuery
from gateway.projection import AttributeSelection, project, returns
from gateway.rendering import (
    list_body,
    location_of,
    resource_meta,
    resource_response,
    stored_attributes,
)
from gateway.responses import ScimResponse

GroupRefs = Mapping[str, Sequence[Mapping[str, Any]]]


def wants_members(selection: AttributeSelection) -> bool:
    """Tell whether the answer shows members, so whether to read them at all."""
    return returns(selection, "members", core_schema=urns.GROUP)


def group_resource(view: GroupView, *, base_url: str) -> dict[str, Any]:
    """Return the SCIM Group for a `rivane.group_mapping.v1.Group`."""
    group = view.group
    schemas, attributes = stored_attributes(group, kind="group")
    attributes.pop("members", None)
    resource: dict[str, Any] = {
        "schemas": schemas or [urns.GROUP],
        "id": str(group.id),
        **attributes,
    }
    if view.member_ids:
        resource["members"] = [
            {
                "value": member_id,
                "$ref": location_of(base_url, "Users", member_id),
                "type": "User",
            }
            for member_id in view.member_ids
        ]
    resource["meta"] = resource_meta(
        group,
        resource_type="Group",
        location=location_of(base_url, "Groups", str(group.id)),
    )
    return resource


def group_response(
    view: GroupView,
    *,
    base_url: str,
    selection: AttributeSelection,
    status_code: int = 200,
) -> ScimResponse:
    """Answer with one group, its ETag and, when created, its Location."""
    return resource_response(
        group_resource(view, base_url=base_url),
        selection=selection,
        core_schema=urns.GROUP,
        status_code=status_code,
    )


def group_representations(
    views: Sequence[GroupView], *, base_url: str, selection: AttributeSelection
) -> list[dict[str, Any]]:
    """Return each group as the client asked for it."""
    return [
        project(
            group_resource(view, base_url=base_url), selection, core_schema=urns.GROUP
        )
        for view in views
    ]


def group_list_response(
    page: GroupPage,
    *,
    query: UserQuery,
    base_url: str,
    selection: AttributeSelection,
) -> ScimResponse:
    """Answer with one page of groups as a ListResponse (RFC 7644 §3.4.2)."""
    resources = group_representations(
        page.groups[: query.count], base_url=base_url, selection=selection
    )
    return ScimResponse(
        list_body(resources, total=page.total_results, start_index=query.start_index)
    )


async def user_groups(
    users: Sequence[Any],
    *,
    org_id: str,
    selection: AttributeSelection,
    groups: GroupMappingClient,
    base_url: str,
) -> dict[str, list[dict[str, Any]]]:
    """Return the `groups` attribute of each user that has one.

    One call to the group-mapping service answers for every user of a page;
    none is made when the client left `groups` out.
    """
    if not users or not returns(selection, "groups", core_schema=urns.USER):
        return {}
    found = await groups.groups_of_users(
        org_id=org_id, user_ids=[str(user.id) for user in users]
    )
    return {
        user_id: [
            {
                "value": ref.group_id,
                "$ref": location_of(base_url, "Groups", ref.group_id),
                "display": ref.display_name,
                # No group holds another, so every membership is direct.
                "type": "direct",
            }
            for ref in refs
        ]
        for user_id, refs in found.items()
    }
