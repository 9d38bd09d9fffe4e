"""Discovery endpoints (RFC 7644 §4): what this service provider supports.

They answer without a bearer token: the documents are the same for every org
and tell nothing about any of them, and IdPs that send a token anyway are
served the same way. Schemas come from the scim2-models definitions of the
RFC 7643 User and enterprise extension.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Pagination,
    Patch,
    ResourceType,
    ServiceProviderConfig,
    Sort,
    User,
)

from gateway import urns
from gateway.context import ScimBaseUrl
from gateway.listing import DEFAULT_COUNT, MAX_COUNT
from gateway.responses import ScimResponse
from services.common.errors import NotFound

router = APIRouter(tags=["Discovery"])


@cache
def _service_provider_config() -> dict[str, Any]:
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
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
    return {"User": _dump(user)}


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    user = User.to_schema()
    user.description = "User Account"
    enterprise = EnterpriseUser.to_schema()
    enterprise.description = "Enterprise User"
    return {urns.USER: _dump(user), urns.ENTERPRISE_USER: _dump(enterprise)}


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


def _resource_type(name: str, base_url: str) -> dict[str, Any]:
    return _located(
        _resource_types()[name],
        resource_type="ResourceType",
        location=f"{base_url}/ResourceTypes/{name}",
    )


def _schema(urn: str, base_url: str) -> dict[str, Any]:
    return _located(
        _schemas()[urn], resource_type="Schema", location=f"{base_url}/Schemas/{urn}"
    )


@router.get("/ServiceProviderConfig", response_class=ScimResponse)
async def service_provider_config(base_url: ScimBaseUrl) -> ScimResponse:
    """Describe the SCIM features this service provider supports (RFC 7643 §5)."""
    return ScimResponse(
        _located(
            _service_provider_config(),
            resource_type="ServiceProviderConfig",
            location=f"{base_url}/ServiceProviderConfig",
        )
    )


@router.get("/ResourceTypes", response_class=ScimResponse)
async def list_resource_types(base_url: ScimBaseUrl) -> ScimResponse:
    """List the resource types served here (RFC 7643 §6)."""
    return _list([_resource_type(name, base_url) for name in _resource_types()])


@router.get("/ResourceTypes/{name}", response_class=ScimResponse)
async def get_resource_type(name: str, base_url: ScimBaseUrl) -> ScimResponse:
    """Describe one resource type, e.g. `User`."""
    for known in _resource_types():
        if known.lower() == name.lower():
            return ScimResponse(_resource_type(known, base_url))
    raise NotFound(f"no resource type {name!r}")


@router.get("/Schemas", response_class=ScimResponse)
async def list_schemas(base_url: ScimBaseUrl) -> ScimResponse:
    """List the schemas of the resources served here (RFC 7643 §7)."""
    return _list([_schema(urn, base_url) for urn in _schemas()])


@router.get("/Schemas/{urn}", response_class=ScimResponse)
async def get_schema(urn: str, base_url: ScimBaseUrl) -> ScimResponse:
    """Describe one schema by its URN."""
    for known in _schemas():
        if known.lower() == urn.lower():
            return ScimResponse(_schema(known, base_url))
    raise NotFound(f"no schema {urn!r}")
