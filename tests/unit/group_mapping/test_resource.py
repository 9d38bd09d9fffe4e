"""A Group body read into what is stored."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.errors import InvalidSyntax, InvalidValue
from services.group_mapping.resource import (
    GROUP_URN,
    GroupBody,
    read_group,
    stored_attributes,
)

ALICE = "5d1e2f3a-0000-4000-8000-00000000000a"
ENTRA_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def test_entra_body_with_its_own_schema_and_meta_is_read() -> None:
    body = read_group(
        {
            "schemas": [GROUP_URN, ENTRA_GROUP],
            "externalId": "e-1",
            "displayName": "Sales",
            "meta": {"resourceType": "Group"},
        }
    )

    assert body == GroupBody(display_name="Sales", external_id="e-1", member_ids=())


def test_members_come_in_order_once_and_canonical() -> None:
    body = read_group(
        {
            "DisplayName": "Sales",
            "members": [
                {"value": ALICE.upper(), "display": "Alice"},
                {"value": "not-a-uuid", "$ref": None},
                {"value": ALICE, "type": "User"},
            ],
        }
    )

    assert body.member_ids == (ALICE, "not-a-uuid")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"displayName": "  "},
        {"displayName": 5},
        {"displayName": "x" * 513},
        {"displayName": "G", "externalId": 7},
        {"displayName": "G", "members": [{"value": ALICE, "type": "Group"}]},
        {"displayName": "G", "members": ["plain-id"]},
        {"displayName": "G", "schemas": "urn"},
    ],
)
def test_invalid_bodies_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        read_group(payload)


def test_a_body_that_is_no_object_is_refused() -> None:
    with pytest.raises(InvalidSyntax):
        read_group(["displayName"])


def test_stored_attributes_leave_an_unassigned_external_id_out() -> None:
    assert stored_attributes(display_name="G", external_id=None) == {
        "schemas": [GROUP_URN],
        "displayName": "G",
    }
