"""PATCH as Okta and Entra send it: the stored user after, or the SCIM error."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from scim2_models import Group

from services.common.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    Mutability,
    NoTarget,
)
from services.identity.scim.patch import MAX_PATCH_SCALARS, PATCH_OP_URN, apply_patch
from services.identity.scim.paths import MAX_PATH_LENGTH
from services.identity.scim.resource import MAX_VALUES, normalize_user
from services.identity.scim.schema import (
    CORE_USER_URN,
    ENTERPRISE_USER_URN,
    ResourceSchema,
)

ADA = normalize_user(
    {
        "schemas": [CORE_USER_URN],
        "userName": "ada@example.test",
        "externalId": "00u1",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "type": "work", "value": "ada@example.test"}],
        ENTERPRISE_USER_URN: {"department": "Treasury", "manager": {"value": "m-1"}},
    }
)


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_URN], "Operations": list(operations)}


def patched(
    *operations: dict[str, Any], resource: dict[str, Any] = ADA
) -> dict[str, Any]:
    return apply_patch(resource, patch_body(*operations))


def test_apply_patch_follows_the_entra_default_dialect() -> None:
    after = patched(
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "new.ada@example.test",
        },
        {"op": "Replace", "path": "name.familyName", "value": "Murray"},
        {"op": "Add", "path": "nickName", "value": "Amazing"},
        {"op": "Add", "path": f"{ENTERPRISE_USER_URN}:department", "value": "Payables"},
        {"op": "Replace", "path": "active", "value": "False"},
    )

    assert after["emails"] == [
        {"primary": True, "type": "work", "value": "new.ada@example.test"}
    ]
    assert after["name"] == {"givenName": "Ada", "familyName": "Murray"}
    assert after["nickName"] == "Amazing"
    assert after[ENTERPRISE_USER_URN]["department"] == "Payables"
    assert after["active"] is False


def test_apply_patch_deactivates_with_an_okta_pathless_replace() -> None:
    after = patched({"op": "replace", "value": {"active": False}})

    assert after == {**ADA, "active": False}


def test_apply_patch_reads_dotted_and_urn_keys_of_a_pathless_value() -> None:
    after = patched(
        {
            "op": "Replace",
            "value": {
                "name.givenName": "Augusta",
                f"{ENTERPRISE_USER_URN}:costCenter": "CC-7",
                "urn:ietf:params:scim:schemas:core:2.0:User:title": "Countess",
            },
        }
    )

    assert after["name"]["givenName"] == "Augusta"
    assert after[ENTERPRISE_USER_URN]["costCenter"] == "CC-7"
    assert after["title"] == "Countess"


def test_apply_patch_twice_gives_the_same_user() -> None:
    body = patch_body(
        {"op": "replace", "path": "displayName", "value": "Once"},
        {
            "op": "add",
            "path": "emails",
            "value": [{"type": "home", "value": "h@x.test"}],
        },
        {"op": "add", "path": "emails", "value": [{"value": "ADA@example.test"}]},
        {"op": "Remove", "path": 'emails[type eq "other"]'},
        {"op": "add", "path": 'emails[type eq "work"].display', "value": "Work"},
    )

    once = apply_patch(ADA, body)

    assert apply_patch(once, body) == once
    assert len(once["emails"]) == 2


def test_apply_patch_leaves_the_input_untouched() -> None:
    before = copy.deepcopy(ADA)

    patched(
        {"op": "remove", "path": "emails"},
        {"op": "replace", "path": "name.givenName", "value": "A"},
    )

    assert ADA == before


def test_apply_patch_applies_nothing_when_one_operation_fails() -> None:
    before = copy.deepcopy(ADA)

    with pytest.raises(InvalidPath):
        patched(
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "noSuchAttribute", "value": "x"},
        )

    assert ADA == before


def test_apply_patch_adds_a_value_already_there_only_once() -> None:
    after = patched(
        {
            "op": "add",
            "path": "emails",
            "value": [{"type": "work", "value": "Ada@Example.test", "primary": True}],
        }
    )

    assert after == ADA


def test_apply_patch_keeps_one_primary_value() -> None:
    after = patched(
        {
            "op": "add",
            "path": "emails",
            "value": [{"type": "home", "value": "h@x.test", "primary": "True"}],
        }
    )

    assert after["emails"] == [
        {"primary": False, "type": "work", "value": "ada@example.test"},
        {"type": "home", "value": "h@x.test", "primary": True},
    ]


def test_apply_patch_creates_the_value_a_filter_describes_when_none_matches() -> None:
    after = patched(
        {"op": "Replace", "path": 'emails[type eq "home"].value', "value": "h@x.test"}
    )

    assert {"type": "home", "value": "h@x.test"} in after["emails"]


def test_apply_patch_answers_no_target_for_a_filter_nothing_matches() -> None:
    with pytest.raises(NoTarget):
        patched(
            {
                "op": "replace",
                "path": 'emails[type eq "home" or value co "zz"].value',
                "value": "h@x.test",
            }
        )


def test_apply_patch_removing_an_unmatched_value_changes_nothing() -> None:
    assert patched({"op": "remove", "path": 'emails[type eq "home"]'}) == ADA


def test_apply_patch_removes_values_a_filter_selects() -> None:
    after = patched({"op": "remove", "path": 'emails[value ew "@EXAMPLE.test"]'})

    assert "emails" not in after


def test_apply_patch_removes_values_given_as_an_array() -> None:
    after = patched(
        {
            "op": "Remove",
            "path": "emails",
            "value": [{"$ref": None, "value": "ada@example.test"}],
        }
    )

    assert "emails" not in after


def test_apply_patch_replaces_all_values_without_a_filter() -> None:
    after = patched(
        {"op": "replace", "path": "emails", "value": [{"value": "o@x.test"}]}
    )

    assert after["emails"] == [{"value": "o@x.test"}]


def test_apply_patch_merges_the_sub_attributes_of_a_complex_value() -> None:
    after = patched(
        {"op": "replace", "path": "name", "value": {"givenName": "Augusta"}}
    )

    assert after["name"] == {"givenName": "Augusta", "familyName": "Lovelace"}


def test_apply_patch_writes_the_manager_by_id_or_by_value() -> None:
    by_id = patched(
        {"op": "Add", "path": f"{ENTERPRISE_USER_URN}:manager", "value": "m-2"}
    )
    by_value = patched(
        {
            "op": "replace",
            "path": f"{ENTERPRISE_USER_URN}:manager.value",
            "value": "m-3",
        }
    )

    assert by_id[ENTERPRISE_USER_URN]["manager"] == {"value": "m-2"}
    assert by_value[ENTERPRISE_USER_URN]["manager"] == {"value": "m-3"}


def test_apply_patch_drops_the_extension_once_empty() -> None:
    after = patched(
        {"op": "remove", "path": f"{ENTERPRISE_USER_URN}:manager"},
        {"op": "remove", "path": f"{ENTERPRISE_USER_URN}:department"},
    )

    assert ENTERPRISE_USER_URN not in after
    assert after["schemas"] == [CORE_USER_URN]


def test_apply_patch_adds_a_whole_extension_object() -> None:
    after = patched(
        {"op": "add", "path": ENTERPRISE_USER_URN, "value": {"division": "R&D"}}
    )

    assert after[ENTERPRISE_USER_URN] == {
        "department": "Treasury",
        "manager": {"value": "m-1"},
        "division": "R&D",
    }


def test_apply_patch_unassigns_on_a_null_replace() -> None:
    assert "externalId" not in patched(
        {"op": "replace", "path": "externalId", "value": None}
    )


def test_apply_patch_accepts_and_discards_a_password() -> None:
    after = patched(
        {"op": "replace", "value": {"password": "n3w-Secret"}},
        {"op": "replace", "path": "password", "value": "n3w-Secret"},
    )

    assert after == ADA


def test_apply_patch_ignores_the_resources_own_id_in_a_pathless_value() -> None:
    body = patch_body({"op": "replace", "value": {"id": "u-1", "displayName": "Ada"}})

    after = apply_patch(ADA, body, resource_id="u-1")

    assert after["displayName"] == "Ada"


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "id", "value": "u-2"},
        {"op": "replace", "value": {"id": "u-2"}},
        {"op": "add", "path": "groups", "value": [{"value": "g-1"}]},
        {"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"},
    ],
)
def test_apply_patch_refuses_to_change_read_only_attributes(
    operation: dict[str, Any],
) -> None:
    with pytest.raises(Mutability):
        patched(operation)


def test_apply_patch_answers_no_target_for_a_remove_without_path() -> None:
    with pytest.raises(NoTarget):
        patched({"op": "remove"})


@pytest.mark.parametrize(
    "path",
    [
        "emails[type eq]",
        "noSuchAttribute",
        "name.noSuchPart",
        'name[givenName eq "Ada"]',
        'emails[noSuchPart eq "x"].value',
        'emails[primary eq "yes"].value',
        "urn:example:unknown:2.0:User:badge",
    ],
)
def test_apply_patch_refuses_an_invalid_path(path: str) -> None:
    with pytest.raises(InvalidPath):
        patched({"op": "replace", "path": path, "value": "x"})


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"Operations": [{"op": "add", "path": "title", "value": "x"}]},
        {"schemas": [PATCH_OP_URN]},
        {"schemas": [PATCH_OP_URN], "Operations": []},
        {"schemas": [PATCH_OP_URN], "Operations": {"op": "add"}},
        {"schemas": [PATCH_OP_URN], "Operations": ["add"]},
        {"schemas": [PATCH_OP_URN], "Operations": [{"op": "merge", "path": "title"}]},
        {
            "schemas": [PATCH_OP_URN],
            "Operations": [{"op": "add", "path": 5, "value": 1}],
        },
    ],
)
def test_apply_patch_refuses_a_malformed_body(body: object) -> None:
    with pytest.raises(InvalidSyntax):
        apply_patch(ADA, body)


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "userName", "value": 5},
        {"op": "replace", "path": "active", "value": "maybe"},
        {"op": "add", "path": "title"},
        {"op": "add", "value": "not an object"},
        {"op": "replace", "path": "userName", "value": ""},
        {"op": "remove", "path": "userName"},
        {
            "op": "replace",
            "path": "emails",
            "value": [{"value": "a", "primary": True}, {"value": "b", "primary": True}],
        },
    ],
)
def test_apply_patch_refuses_an_invalid_value(operation: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        patched(operation)


GROUPS = ResourceSchema(core=Group.to_schema())
TEAM = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "displayName": "Finance",
    "members": [{"value": "u-1"}, {"value": "u-2"}],
}


def test_apply_patch_removes_members_in_both_entra_dialects() -> None:
    by_value = apply_patch(
        TEAM,
        patch_body({"op": "Remove", "path": "members", "value": [{"value": "u-1"}]}),
        schema=GROUPS,
    )
    by_filter = apply_patch(
        TEAM,
        patch_body({"op": "remove", "path": 'members[value eq "u-1"]'}),
        schema=GROUPS,
    )

    assert by_value["members"] == by_filter["members"] == [{"value": "u-2"}]


def test_apply_patch_compares_member_ids_exactly() -> None:
    after = apply_patch(
        TEAM,
        patch_body({"op": "add", "path": "members", "value": [{"value": "U-1"}]}),
        schema=GROUPS,
    )

    assert after["members"] == [{"value": "u-1"}, {"value": "u-2"}, {"value": "U-1"}]


def test_apply_patch_refuses_a_patch_op_carrying_too_many_values() -> None:
    # 1 MB of such operations kept the service busy for seconds before.
    emails = [{"value": f"ada{i}@example.test", "type": "work"} for i in range(100)]
    operation = {"op": "add", "path": "emails", "value": emails}
    operations = [operation] * (MAX_PATCH_SCALARS // 200 + 1)

    with pytest.raises(InvalidValue, match=f"at most {MAX_PATCH_SCALARS} values"):
        apply_patch(ADA, patch_body(*operations))


def test_apply_patch_refuses_to_grow_an_attribute_past_its_bound() -> None:
    held = {**ADA, "emails": [{"value": f"a{i}@x.test"} for i in range(MAX_VALUES)]}
    operation = {"op": "add", "path": "emails", "value": [{"value": "one@x.test"}]}

    with pytest.raises(InvalidValue, match=f"'emails' holds at most {MAX_VALUES}"):
        apply_patch(held, patch_body(operation))


def test_apply_patch_refuses_an_over_long_path() -> None:
    path = 'emails[value eq "' + "x" * MAX_PATH_LENGTH + '"].type'
    operation = {"op": "replace", "path": path, "value": "work"}

    with pytest.raises(InvalidPath, match="at most"):
        apply_patch(ADA, patch_body(operation))
