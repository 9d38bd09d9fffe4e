"""Path-less values keyed by filters, the core schema, bounded echoes in details."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.errors import (
    MAX_SHOWN,
    InvalidPath,
    InvalidSyntax,
    clipped,
    quoted,
)
from services.identity.scim.patch import PATCH_OP_URN, apply_patch
from services.identity.scim.resource import normalize_user
from services.identity.scim.schema import CORE_USER_URN, ENTERPRISE_USER_URN

GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ADA = normalize_user(
    {
        "userName": "ada@example.test",
        "emails": [{"value": "ada@example.test", "type": "work", "primary": True}],
    }
)


def replace(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "schemas": [PATCH_OP_URN],
        "Operations": [{"op": "Replace", "value": value}],
    }


def test_pathless_key_with_a_value_filter_writes_the_values_it_selects() -> None:
    patched = apply_patch(ADA, replace({'emails[type eq "work"].value': "new@x.test"}))

    assert patched["emails"] == [
        {"value": "new@x.test", "type": "work", "primary": True}
    ]


def test_pathless_key_with_a_value_filter_adds_the_value_it_describes() -> None:
    patched = apply_patch(
        ADA, replace({'phoneNumbers[type eq "mobile"].value': "+1 555 0100"})
    )

    assert patched["phoneNumbers"] == [{"value": "+1 555 0100", "type": "mobile"}]


def test_pathless_key_with_a_value_filter_applies_once_however_often_sent() -> None:
    body = replace({'emails[type eq "work"].value': "new@x.test"})

    once = apply_patch(ADA, body)

    assert apply_patch(once, body) == once


def test_pathless_key_with_a_malformed_filter_is_invalid_path() -> None:
    with pytest.raises(InvalidPath):
        apply_patch(ADA, replace({"emails[type eq work].value": "x"}))


def test_pathless_key_naming_no_attribute_is_left_out() -> None:
    assert apply_patch(ADA, replace({"costCenterCode": "42"})) == ADA


@pytest.mark.parametrize("schemas", [[GROUP_URN], [ENTERPRISE_USER_URN], ["urn:x"]])
def test_user_body_whose_schemas_lack_the_core_user_schema_is_invalid_syntax(
    schemas: list[str],
) -> None:
    with pytest.raises(InvalidSyntax):
        normalize_user({"schemas": schemas, "userName": "ada@example.test"})


@pytest.mark.parametrize(
    "schemas", [None, [], [CORE_USER_URN.upper()], [CORE_USER_URN, "urn:x"]]
)
def test_user_body_naming_the_core_schema_or_none_is_read(
    schemas: list[str] | None,
) -> None:
    body: dict[str, Any] = {"userName": "ada@example.test"}
    if schemas is not None:
        body["schemas"] = schemas

    assert normalize_user(body)["userName"] == "ada@example.test"


def test_clipped_text_is_bounded_and_short_text_is_kept() -> None:
    assert clipped("x" * 20_000) == "x" * (MAX_SHOWN - 3) + "..."
    assert clipped("ada") == "ada"
    assert quoted("ada") == "'ada'"
