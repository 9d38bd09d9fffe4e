"""Partial representations (RFC 7644 §3.9) and returned characteristics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gateway_fakes import SCIM, user_body

from gateway.projection import AttributeSelection, attribute_selection, project
from services.common.errors import InvalidValue

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

USER: dict[str, Any] = {
    "schemas": [CORE, ENTERPRISE],
    "id": "u1",
    "userName": "ada@example.test",
    "password": "secret",
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "emails": [
        {"type": "work", "value": "ada@example.test", "primary": True},
        {"type": "home", "value": "ada@home.test"},
    ],
    ENTERPRISE: {"department": "Treasury", "manager": {"value": "m1"}},
    "meta": {"resourceType": "User", "version": 'W/"1"'},
}


def _only(*names: str) -> AttributeSelection:
    return attribute_selection(attributes=names, excluded=())


def _without(*names: str) -> AttributeSelection:
    return attribute_selection(attributes=(), excluded=names)


def test_no_selection_returns_everything_but_the_password() -> None:
    result = project(USER, AttributeSelection(), core_schema=CORE)

    assert "password" not in result
    assert result == {k: v for k, v in USER.items() if k != "password"}


def test_attributes_keep_only_those_plus_id_and_schemas() -> None:
    result = project(USER, _only("userName"), core_schema=CORE)

    assert result == {
        "schemas": USER["schemas"],
        "id": "u1",
        "userName": "ada@example.test",
    }


def test_attribute_names_are_case_insensitive_and_comma_separated() -> None:
    result = project(USER, _only("USERNAME,name.GIVENNAME"), core_schema=CORE)

    assert result["userName"] == "ada@example.test"
    assert result["name"] == {"givenName": "Ada"}


def test_sub_attribute_of_a_multi_valued_attribute_is_taken_from_each_value() -> None:
    result = project(USER, _only("emails.value"), core_schema=CORE)

    assert result["emails"] == [
        {"value": "ada@example.test"},
        {"value": "ada@home.test"},
    ]


def test_urn_qualified_names_reach_core_and_extension_attributes() -> None:
    selection = _only(f"{CORE}:userName", f"{ENTERPRISE}:department")

    result = project(USER, selection, core_schema=CORE)

    assert result["userName"] == "ada@example.test"
    assert result[ENTERPRISE] == {"department": "Treasury"}
    assert "name" not in result


def test_a_whole_extension_is_named_by_its_urn() -> None:
    result = project(USER, _only(ENTERPRISE), core_schema=CORE)

    assert result[ENTERPRISE] == USER[ENTERPRISE]


def test_password_is_never_returned_even_when_asked_for() -> None:
    result = project(USER, _only("password"), core_schema=CORE)

    assert "password" not in result


def test_excluded_attributes_drop_attributes_and_sub_attributes() -> None:
    selection = _without("emails", "name.givenName", f"{ENTERPRISE}:manager")

    result = project(USER, selection, core_schema=CORE)

    assert "emails" not in result
    assert result["name"] == {"familyName": "Lovelace"}
    assert result[ENTERPRISE] == {"department": "Treasury"}
    assert result["meta"] == USER["meta"]


def test_id_and_schemas_cannot_be_excluded() -> None:
    result = project(USER, _without("id", "schemas", "meta"), core_schema=CORE)

    assert result["id"] == "u1"
    assert result["schemas"] == USER["schemas"]
    assert "meta" not in result


def test_a_complex_attribute_left_empty_is_left_out() -> None:
    selection = _without("name.givenName", "name.familyName")

    result = project(USER, selection, core_schema=CORE)

    assert "name" not in result


def test_attributes_and_excluded_attributes_together_are_refused() -> None:
    with pytest.raises(InvalidValue):
        attribute_selection(attributes=["userName"], excluded=["emails"])


async def test_get_user_honours_attributes(client: httpx.AsyncClient) -> None:
    created = (await client.post(f"{SCIM}/Users", json=user_body())).json()

    response = await client.get(
        f"{SCIM}/Users/{created['id']}", params={"attributes": "userName,meta.version"}
    )

    assert response.json() == {
        "schemas": created["schemas"],
        "id": created["id"],
        "userName": created["userName"],
        "meta": {"version": created["meta"]["version"]},
    }
    assert response.headers["etag"] == created["meta"]["version"]


async def test_list_honours_excluded_attributes(client: httpx.AsyncClient) -> None:
    await client.post(f"{SCIM}/Users", json=user_body())

    response = await client.get(
        f"{SCIM}/Users", params={"excludedAttributes": "emails,name"}
    )

    resource = response.json()["Resources"][0]
    assert "emails" not in resource and "name" not in resource
    assert resource["userName"] == "ada@example.test"


async def test_both_selection_parameters_are_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{SCIM}/Users", params={"attributes": "userName", "excludedAttributes": "name"}
    )

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
