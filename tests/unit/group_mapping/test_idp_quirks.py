"""Group bodies naming another resource's schema; bounded echoes in details."""

from __future__ import annotations

import pytest

from services.common.errors import MAX_SHOWN, InvalidSyntax, InvalidValue
from services.group_mapping.patch import read_patch
from services.group_mapping.resource import GROUP_URN, read_group

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_group_body_naming_only_the_user_schema_is_invalid_syntax() -> None:
    with pytest.raises(InvalidSyntax):
        read_group({"schemas": [USER_URN], "displayName": "Engineering"})


@pytest.mark.parametrize("schemas", [None, [], [GROUP_URN.lower(), "urn:x"]])
def test_group_body_naming_the_core_schema_or_none_is_read(
    schemas: list[str] | None,
) -> None:
    body: dict[str, object] = {"displayName": "Engineering"}
    if schemas is not None:
        body["schemas"] = schemas

    assert read_group(body).display_name == "Engineering"


def test_unknown_op_is_named_in_a_bounded_detail() -> None:
    body = {"schemas": [PATCH_OP_URN], "Operations": [{"op": "x" * 20_000}]}

    with pytest.raises(InvalidSyntax) as raised:
        read_patch(body, group_id="g")

    assert len(raised.value.detail) < 2 * MAX_SHOWN


def test_member_type_is_named_in_a_bounded_detail() -> None:
    body = {"displayName": "Eng", "members": [{"value": "u", "type": "x" * 20_000}]}

    with pytest.raises(InvalidValue) as raised:
        read_group(body)

    assert len(raised.value.detail) < 2 * MAX_SHOWN
