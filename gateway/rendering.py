"""SCIM representations of the resources the services return.

A service stores a resource's attributes; the gateway adds what only it
knows: `id` and `meta` with the absolute `location` (RFC 7643 §3.1), and for
a user the read-only `groups`, which the group-mapping service holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from gateway import urns
from gateway.etags import weak_etag
from gateway.identity import UserQuery
from gateway.projection import AttributeSelection, project
from gateway.responses import ScimResponse


def stored_attributes(message: Any, *, kind: str) -> tuple[list[str], dict[str, Any]]:
    """Return the `schemas` and other attributes in a message's `resource_json`."""
    attributes = json.loads(message.resource_json or "{}")
    if not isinstance(attributes, dict):
        raise TypeError(f"{kind} {message.id} has a resource that is not an object")
    # The services keep neither, but a stored copy must never shadow ours.
    attributes.pop("id", None)
    attributes.pop("meta", None)
    schemas = attributes.pop("schemas", None) or []
    return list(schemas), attributes


def resource_meta(message: Any, *, resource_type: str, location: str) -> dict[str, Any]:
    """Return `meta` for a stored resource (RFC 7643 §3.1)."""
    meta: dict[str, Any] = {"resourceType": resource_type}
    if message.HasField("created"):
        meta["created"] = message.created.ToJsonString()
    if message.HasField("last_modified"):
        meta["lastModified"] = message.last_modified.ToJsonString()
    meta["location"] = location
    meta["version"] = weak_etag(int(message.version))
    return meta


def location_of(base_url: str, endpoint: str, resource_id: str) -> str:
    """Return the absolute URI of a resource, e.g. `.../Users/<id>`."""
    return f"{base_url}/{endpoint}/{quote(resource_id, safe='')}"


def user_resource(
    user: Any, *, base_url: str, groups: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Return the full SCIM User for a `rivane.identity.v1.User`."""
    schemas, attributes = stored_attributes(user, kind="user")
    resource: dict[str, Any] = {
        "schemas": schemas or [urns.USER],
        "id": str(user.id),
        **attributes,
    }
    if groups:
        # RFC 7643 §4.1.2: read-only, managed through the Group resource.
        resource["groups"] = [dict(group) for group in groups]
    resource["meta"] = resource_meta(
        user,
        resource_type="User",
        location=location_of(base_url, "Users", str(user.id)),
    )
    return resource


def resource_response(
    resource: dict[str, Any],
    *,
    selection: AttributeSelection,
    core_schema: str,
    status_code: int = 200,
) -> ScimResponse:
    """Answer with one resource, its ETag and, when created, its Location."""
    headers = {"ETag": resource["meta"]["version"]}
    if status_code == 201:
        # RFC 7644 §3.3: the Location header holds the new resource's URI.
        headers["Location"] = resource["meta"]["location"]
    body = project(resource, selection, core_schema=core_schema)
    return ScimResponse(body, status_code=status_code, headers=headers)


def user_response(
    user: Any,
    *,
    base_url: str,
    selection: AttributeSelection,
    status_code: int = 200,
    groups: Sequence[Mapping[str, Any]] = (),
) -> ScimResponse:
    """Answer with one user, its ETag and, when created, its Location."""
    return resource_response(
        user_resource(user, base_url=base_url, groups=groups),
        selection=selection,
        core_schema=urns.USER,
        status_code=status_code,
    )


def user_representations(
    users: Sequence[Any],
    *,
    base_url: str,
    selection: AttributeSelection,
    groups: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """Return each user as the client asked for it, with its `groups`."""
    return [
        project(
            user_resource(user, base_url=base_url, groups=groups.get(str(user.id), ())),
            selection,
            core_schema=urns.USER,
        )
        for user in users
    ]


def list_body(
    resources: list[dict[str, Any]], *, total: int, start_index: int
) -> dict[str, Any]:
    """Return a ListResponse holding one page of resources (RFC 7644 §3.4.2)."""
    return {
        "schemas": [urns.LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def list_response(
    users: Sequence[Any],
    *,
    total: int,
    query: UserQuery,
    base_url: str,
    selection: AttributeSelection,
    groups: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> ScimResponse:
    """Answer with one page of users as a ListResponse (RFC 7644 §3.4.2)."""
    # §3.4.2.4: never more resources than the client asked for.
    resources = user_representations(
        list(users)[: query.count],
        base_url=base_url,
        selection=selection,
        groups=groups or {},
    )
    return ScimResponse(
        list_body(resources, total=total, start_index=query.start_index)
    )
