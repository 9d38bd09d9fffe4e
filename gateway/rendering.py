"""SCIM representations of the users the identity service returns.

The service stores a user's attributes; the gateway adds what only it knows:
`id` and `meta` with the absolute `location` (RFC 7643 §3.1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from gateway import urns
from gateway.etags import weak_etag
from gateway.identity import UserQuery
from gateway.projection import AttributeSelection, project
from gateway.responses import ScimResponse


def user_resource(user: Any, *, base_url: str) -> dict[str, Any]:
    """Return the full SCIM User for a `rivane.identity.v1.User`."""
    attributes = json.loads(user.resource_json or "{}")
    if not isinstance(attributes, dict):
        raise TypeError(f"user {user.id} has a resource that is not an object")

    # The service keeps neither, but a stored copy must never shadow ours.
    attributes.pop("id", None)
    attributes.pop("meta", None)
    schemas = attributes.pop("schemas", None) or [urns.USER]

    meta: dict[str, Any] = {"resourceType": "User"}
    if user.HasField("created"):
        meta["created"] = user.created.ToJsonString()
    if user.HasField("last_modified"):
        meta["lastModified"] = user.last_modified.ToJsonString()
    meta["location"] = f"{base_url}/Users/{quote(str(user.id), safe='')}"
    meta["version"] = weak_etag(int(user.version))

    return {"schemas": schemas, "id": str(user.id), **attributes, "meta": meta}


def user_response(
    user: Any,
    *,
    base_url: str,
    selection: AttributeSelection,
    status_code: int = 200,
) -> ScimResponse:
    """Answer with one user, its ETag and, when created, its Location."""
    resource = user_resource(user, base_url=base_url)
    headers = {"ETag": resource["meta"]["version"]}
    if status_code == 201:
        # RFC 7644 §3.3: the Location header holds the new resource's URI.
        headers["Location"] = resource["meta"]["location"]

    body = project(resource, selection, core_schema=urns.USER)
    return ScimResponse(body, status_code=status_code, headers=headers)


def list_response(
    users: Sequence[Any],
    *,
    total: int,
    query: UserQuery,
    base_url: str,
    selection: AttributeSelection,
) -> ScimResponse:
    """Answer with one page of users as a ListResponse (RFC 7644 §3.4.2)."""
    # §3.4.2.4: never more resources than the client asked for.
    page = list(users)[: query.count]
    resources = [
        project(
            user_resource(user, base_url=base_url), selection, core_schema=urns.USER
        )
        for user in page
    ]
    body = {
        "schemas": [urns.LIST_RESPONSE],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
    return ScimResponse(body)
