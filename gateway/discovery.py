"""Discovery endpoints (RFC 7644 §4): what this service provider supports.

They answer without a bearer token, with what every org shares: the
scim2-models definitions of the RFC 7643 User, enterprise extension and Group.
A request with an org's SCIM token is answered for that org: its own User
extension schemas are listed in `/Schemas` and in the `schemaExtensions` of
`/ResourceTypes/User` (`/ServiceProviderConfig` is the same for every org
and never reads the token). RFC 7644 §4 lets discovery be served without
authentication; an org's schemas are its own business, so they are shown to
its token only, and a token that is sent but not valid is a 401 as anywhere
else.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Pagination,
    Patch,
    ResourceType,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
    User,
)

from gateway import urns
from gateway.auth import authorization_of, scim_caller
from gateway.context import ScimBaseUrl
from gateway.identity import Identity
from gateway.listing import DEFAULT_COUNT, MAX_COUNT
from gateway.responses import ScimResponse
from services.common.errors import NotFound

router = APIRouter(tags=["Discovery"])


@cache
def _service_provider_config(bulk_operations: int, bulk_bytes: int) -> dict[str, Any]:
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        # RFC 7644 §3.7.4; a request over either limit is answered 413.
        bulk=Bulk(
            supported=True, max_operations=bulk_operations, max_payload_size=bulk_bytes
        ),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth Bearer Token",
                description="An org-scoped SCIM token in the Authorization header",
                primary=True,
            )
        ],
        pagination=Pagination(
            cursor=False,
            index=True,
            default_pagination_method=Pagination.DefaultPaginationMethod.index,
            default_page_size=DEFAULT_COUNT,
            max_page_size=MAX_COUNT,
        ),
    )
    return _dump(config)


@cache
def _resource_types() -> dict[str, dict[str, Any]]:
    user = ResourceType.from_resource(User[EnterpriseUser])
    user.description = "User Account"
    group = ResourceType.from_resource(Group)
    return {"User": _dump(user), "Group": _dump(group)}


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    user = User.to_schema()
    user.description = "User Account"
    enterprise = EnterpriseUser.to_schema()
    enterprise.description = "Enterprise User"
    group = Group.to_schema()
    for attribute in group.attributes or ():
        if attribute.name == "displayName":
            # One name per group in an org, ignoring case (a 409 otherwise).
            attribute.uniqueness = Uniqueness.server
        if attribute.name == "members":
            # RFC 7643 §8.7.1: a member is its value, $ref and type; a
            # "display" sent along is not kept, so none is described.
            attribute.sub_attributes = [
                sub for sub in attribute.sub_attributes or () if sub.name != "display"
            ]
    return {
        urns.USER: _dump(user),
        urns.ENTERPRISE_USER: _dump(enterprise),
        urns.GROUP: _dump(group),
    }


async def org_extensions(request: Request, identity: Identity) -> list[Any]:
    """Return the org's own User extension schemas when a SCIM token is sent."""
    if authorization_of(request) is None:
        return []
    caller = await scim_caller(request, identity)
    return await identity.list_schemas(org_id=caller.org_id)


OrgExtensions = Annotated[list[Any], Depends(org_extensions)]


def _org_resource_types(extensions: list[Any]) -> dict[str, dict[str, Any]]:
    types = _resource_types()
    if not extensions:
        return types
    user = dict(types["User"])
    # RFC 7643 §6: each extension, and whether every User must carry it.
    user["schemaExtensions"] = [
        *user.get("schemaExtensions", []),
        *({"schema": e.urn, "required": e.required} for e in extensions),
    ]
    return {**types, "User": user}


def _org_schemas(extensions: list[Any]) -> dict[str, dict[str, Any]]:
    own = {e.urn: json.loads(e.schema_json) for e in extensions}
    return {**_schemas(), **own}


def _dump(document: Any) -> dict[str, Any]:
    scim_ctx = Context.RESOURCE_QUERY_RESPONSE
    dumped: dict[str, Any] = document.model_dump(scim_ctx=scim_ctx)
    return dumped


def _located(
    document: dict[str, Any], *, resource_type: str, location: str
) -> dict[str, Any]:
    return {**document, "meta": {"resourceType": resource_type, "location": location}}


def _list(resources: list[dict[str, Any]]) -> ScimResponse:
    return ScimResponse(
        {
            "schemas": [urns.LIST_RESPONSE],
            "totalResults": len(resources),
            "startIndex": 1,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )


def _resource_type(
    document: dict[str, Any], name: str, base_url: str
) -> dict[str, Any]:
    return _located(
        document,
        resource_type="ResourceType",
        location=f"{base_url}/ResourceTypes/{name}",
    )


def _schema(document: dict[str, Any], urn: str, base_url: str) -> dict[str, Any]:
    return _located(
        document, resource_type="Schema", location=f"{base_url}/Schemas/{urn}"
    )


@router.get("/ServiceProviderConfig", response_class=ScimResponse)
async def service_provider_config(
    request: Request, base_url: ScimBaseUrl
) -> ScimResponse:
    """Describe the SCIM features this service provider supports (RFC 7643 §5)."""
    settings = request.app.state.settings
    return ScimResponse(
        _located(
            _service_provider_config(
                settings.bulk_max_operations, settings.bulk_max_payload_bytes
            ),
            resource_type="ServiceProviderConfig",
            location=f"{base_url}/ServiceProviderConfig",
        )
    )


@router.get("/ResourceTypes", response_class=ScimResponse)
async def list_resource_types(
    base_url: ScimBaseUrl, extensions: OrgExtensions
) -> ScimResponse:
    """List the resource types served here (RFC 7643 §6)."""
    types = _org_resource_types(extensions)
    return _list([_resource_type(doc, name, base_url) for name, doc in types.items()])


@router.get("/ResourceTypes/{name}", response_class=ScimResponse)
async def get_resource_type(
    name: str, base_url: ScimBaseUrl, extensions: OrgExtensions
) -> ScimResponse:
    """Describe one resource type, e.g. `User`."""
    for known, document in _org_resource_types(extensions).items():
        if known.lower() == name.lower():
            return ScimResponse(_resource_type(document, known, base_url))
    raise NotFound(f"no resource type {name!r}")


@router.get("/Schemas", response_class=ScimResponse)
async def list_schemas(
    base_url: ScimBaseUrl, extensions: OrgExtensions
) -> ScimResponse:
    """List the schemas of the resources served here (RFC 7643 §7)."""
    schemas = _org_schemas(extensions)
    return _list([_schema(doc, urn, base_url) for urn, doc in schemas.items()])


@router.get("/Schemas/{urn}", response_class=ScimResponse)
async def get_schema(
    urn: str, base_url: ScimBaseUrl, extensions: OrgExtensions
) -> ScimResponse:
    """Describe one schema by its URN, matched ignoring case."""
    for known, document in _org_schemas(extensions).items():
        if known.lower() == urn.lower():
            return ScimResponse(_schema(document, known, base_url))
    raise NotFound(f"no schema {urn!r}")
