"""Discovery endpoints (RFC 7644 §4): shape, and open to IdPs without a token."""

from __future__ import annotations

import httpx
import pytest
from gateway_fakes import SCIM, FakeIdentity

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


async def test_service_provider_config_advertises_what_we_support(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await anonymous.get(f"{SCIM}/ServiceProviderConfig")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/scim+json")
    config = response.json()
    assert config["schemas"] == [
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    ]
    assert config["patch"] == {"supported": True}
    assert config["bulk"] == {
        "supported": True,
        "maxOperations": 10_000,
        "maxPayloadSize": 16 * 1024 * 1024,
    }
    assert config["filter"] == {"supported": True, "maxResults": 1000}
    assert config["changePassword"] == {"supported": False}
    assert config["sort"] == {"supported": True}
    assert config["etag"] == {"supported": True}
    assert config["pagination"]["defaultPageSize"] == 100
    assert config["pagination"]["maxPageSize"] == 1000
    [scheme] = config["authenticationSchemes"]
    assert scheme["type"] == "oauthbearertoken"
    assert config["meta"] == {
        "resourceType": "ServiceProviderConfig",
        "location": f"{SCIM}/ServiceProviderConfig",
    }


async def test_resource_types_list_the_user_with_its_extension_and_the_group(
    anonymous: httpx.AsyncClient,
) -> None:
    body = (await anonymous.get(f"{SCIM}/ResourceTypes")).json()

    assert body["schemas"] == [LIST_SCHEMA]
    assert body["totalResults"] == body["itemsPerPage"] == len(body["Resources"]) == 2
    user, group = body["Resources"]
    assert user["id"] == user["name"] == "User"
    assert user["endpoint"] == "/Users"
    assert user["schema"] == CORE
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert user["meta"]["location"] == f"{SCIM}/ResourceTypes/User"
    assert (group["id"], group["endpoint"], group["schema"]) == (
        "Group",
        "/Groups",
        GROUP,
    )
    assert group["meta"]["location"] == f"{SCIM}/ResourceTypes/Group"


async def test_one_resource_type_by_name(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get(f"{SCIM}/ResourceTypes/User")

    assert response.status_code == 200
    assert response.json()["endpoint"] == "/Users"


async def test_schemas_describe_user_enterprise_user_and_group(
    anonymous: httpx.AsyncClient,
) -> None:
    body = (await anonymous.get(f"{SCIM}/Schemas")).json()

    schemas = {schema["id"]: schema for schema in body["Resources"]}
    assert set(schemas) == {CORE, ENTERPRISE, GROUP}
    group = {a["name"]: a for a in schemas[GROUP]["attributes"]}
    assert group["displayName"]["uniqueness"] == "server"
    assert group["members"]["multiValued"] is True
    # RFC 7643 §8.7.1: a member's display is not kept, so it is not described.
    members = [sub["name"] for sub in group["members"]["subAttributes"]]
    assert sorted(members) == ["$ref", "type", "value"]
    attributes = {a["name"]: a for a in schemas[CORE]["attributes"]}
    assert attributes["userName"]["required"] is True
    assert attributes["userName"]["uniqueness"] == "server"
    assert attributes["password"]["returned"] == "never"
    assert attributes["password"]["mutability"] == "writeOnly"
    assert schemas[CORE]["meta"]["location"] == f"{SCIM}/Schemas/{CORE}"


async def test_one_schema_by_urn(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get(f"{SCIM}/Schemas/{ENTERPRISE}")

    assert response.status_code == 200
    names = {a["name"] for a in response.json()["attributes"]}
    assert {"department", "employeeNumber", "manager"} <= names


@pytest.mark.parametrize(
    "path", ["/ResourceTypes/Widget", "/Schemas/urn:example:nothing"]
)
async def test_unknown_discovery_document_is_a_scim_404(
    anonymous: httpx.AsyncClient, path: str
) -> None:
    response = await anonymous.get(f"{SCIM}{path}")

    assert response.status_code == 404
    assert response.json()["status"] == "404"


async def test_discovery_with_a_token_needs_no_call(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    response = await client.get(f"{SCIM}/ServiceProviderConfig")

    assert response.status_code == 200
    assert fake_identity.calls == []


async def test_health_needs_no_token(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
