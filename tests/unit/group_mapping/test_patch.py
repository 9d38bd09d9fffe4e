"""A Group PatchOp read into a plan, in every form Okta and Entra send."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from services.common.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    Mutability,
    NoTarget,
)
from services.group_mapping.patch import (
    AddMembers,
    Attributes,
    GroupPatch,
    RemoveMatching,
    RemoveMembers,
    ReplaceMembers,
    read_patch,
)

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP_ID = "0b7f6c2e-0000-4000-8000-000000000001"
ALICE = "5d1e2f3a-0000-4000-8000-00000000000a"
BOB = "5d1e2f3a-0000-4000-8000-00000000000b"
DIALECT = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]


def plan(*operations: dict[str, Any]) -> GroupPatch:
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    return read_patch(body, group_id=GROUP_ID)


def test_add_members_without_type_with_display_or_null_ref() -> None:
    okta = plan(
        {"op": "add", "path": "members", "value": [{"value": ALICE, "display": "a"}]}
    )
    entra = plan(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": BOB}]}
    )

    assert okta.member_steps == (AddMembers((ALICE,)),)
    assert entra.member_steps == (AddMembers((BOB,)),)
    assert okta.writes == entra.writes == ()


def test_member_ids_are_read_in_canonical_form_and_once() -> None:
    patch = plan(
        {
            "op": "add",
            "path": "members",
            "value": [{"value": ALICE.upper()}, {"value": ALICE, "type": "User"}],
        }
    )

    assert patch.member_steps == (AddMembers((ALICE,)),)
    assert patch.added_ids == [ALICE]


def test_remove_by_filter_becomes_a_condition_on_the_rows() -> None:
    patch = plan({"op": "remove", "path": f'members[value eq "{ALICE}"]'})

    [step] = patch.member_steps
    assert isinstance(step, RemoveMatching)
    assert step.condition is not None
    compiled = step.condition.compile(dialect=DIALECT)
    assert "group_membership.user_id = " in str(compiled)


def test_remove_with_a_value_list_removes_only_those() -> None:
    patch = plan({"op": "Remove", "path": "members", "value": [{"value": ALICE}]})

    assert patch.member_steps == (RemoveMembers((ALICE,)),)


def test_remove_with_an_empty_value_list_removes_none() -> None:
    patch = plan({"op": "remove", "path": "members", "value": []})

    assert patch.member_steps == (RemoveMembers(()),)


def test_remove_without_a_value_removes_every_member() -> None:
    patch = plan({"op": "remove", "path": "members"})

    assert patch.member_steps == (RemoveMatching(None),)


def test_replace_with_a_list_or_empty() -> None:
    patch = plan(
        {"op": "replace", "path": "members", "value": [{"value": ALICE}]},
        {"op": "replace", "path": "members", "value": []},
    )

    assert patch.member_steps == (ReplaceMembers((ALICE,)), ReplaceMembers(()))
    assert patch.added_ids == [ALICE]


def test_pathless_rename_may_repeat_the_group_id() -> None:
    patch = plan(
        {"op": "replace", "value": {"id": GROUP_ID, "displayName": "Finance AP"}}
    )

    renamed = patch.apply_to(Attributes("Finance", "ext-1"))
    assert renamed == Attributes("Finance AP", "ext-1")
    assert patch.member_steps == ()


def test_pathless_value_with_another_id_is_refused() -> None:
    with pytest.raises(Mutability):
        plan({"op": "replace", "value": {"id": ALICE, "displayName": "x"}})


def test_pathless_members_and_qualified_names_are_read() -> None:
    patch = plan(
        {
            "op": "add",
            "value": {
                "urn:ietf:params:scim:schemas:core:2.0:Group:displayName": "G",
                "members": [{"value": BOB}],
                "meta": {"resourceType": "Group"},
            },
        }
    )

    assert patch.writes == (("displayName", "G"),)
    assert patch.member_steps == (AddMembers((BOB,)),)


def test_several_operations_keep_their_order() -> None:
    patch = plan(
        {"op": "remove", "path": f'members[value eq "{ALICE}"]'},
        {"op": "add", "path": "members", "value": [{"value": BOB}]},
        {"op": "Replace", "path": "displayName", "value": "Renamed"},
        {"op": "remove", "path": "externalId"},
    )

    assert [type(step) for step in patch.member_steps] == [RemoveMatching, AddMembers]
    assert patch.writes == (("displayName", "Renamed"), ("externalId", None))
    assert patch.apply_to(Attributes("Old", "e")) == Attributes("Renamed", None)


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ({"op": "remove"}, NoTarget),
        ({"op": "remove", "path": "displayName"}, InvalidValue),
        ({"op": "replace", "path": "displayName", "value": " "}, InvalidValue),
        ({"op": "add", "path": "members"}, InvalidValue),
        ({"op": "add", "path": "members", "value": [{"display": "x"}]}, InvalidValue),
        (
            {
                "op": "add",
                "path": "members",
                "value": [{"value": BOB, "type": "Group"}],
            },
            InvalidValue,
        ),
        ({"op": "replace", "path": "members.value", "value": "x"}, Mutability),
        (
            {"op": "replace", "path": 'members[value eq "x"].value', "value": "y"},
            Mutability,
        ),
        ({"op": "add", "path": 'members[value eq "x"]', "value": {}}, InvalidPath),
        ({"op": "replace", "path": "id", "value": "x"}, Mutability),
        ({"op": "add", "path": "title", "value": "x"}, InvalidPath),
        ({"op": "remove", "path": 'members[nickName eq "x"]'}, InvalidPath),
        ({"op": "remove", "path": "members[value eq"}, InvalidPath),
        ({"op": "move", "path": "members"}, InvalidSyntax),
    ],
)
def test_refused_operations(operation: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        plan(operation)


def test_a_body_that_is_no_patchop_is_refused() -> None:
    with pytest.raises(InvalidSyntax):
        read_patch({"Operations": [{"op": "add"}]}, group_id=GROUP_ID)
    with pytest.raises(InvalidSyntax):
        read_patch({"schemas": [PATCH_OP], "Operations": []}, group_id=GROUP_ID)
