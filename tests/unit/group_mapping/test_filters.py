"""Group filters and member filters as SQL: what is refused, what reaches PostgreSQL.

What the conditions select is checked against the real database by
tests/integration/test_groups.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from scim2_models import Path
from scim2_models.path import ValuePath
from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects import postgresql

from services.common.errors import InvalidFilter, InvalidPath, InvalidValue
from services.group_mapping.filters import (
    MAX_FILTER_LENGTH,
    compile_group_filter,
    group_sort_key,
)
from services.group_mapping.member_filter import compile_member_filter
from services.group_mapping.models import ScimGroup
from services.group_mapping.resource import GROUP_URN

DIALECT = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
ALICE = "5d1e2f3a-0000-4000-8000-00000000000a"


def sql(clause: ColumnElement[Any]) -> str:
    return str(clause.compile(dialect=DIALECT))


def member_filter(path: str) -> ColumnElement[bool]:
    node = Path(path).ast
    assert isinstance(node, ValuePath)
    return compile_member_filter(node.val_filter)


def test_display_name_eq_folds_case_as_the_unique_index() -> None:
    text = sql(compile_group_filter('displayName eq "Finance"'))

    assert 'lower(scim_group.display_name COLLATE "und-x-icu") COLLATE "C"' in text


def test_members_value_is_an_exists_over_the_group_s_rows() -> None:
    condition = compile_group_filter(f'members.value eq "{ALICE}"')
    text = sql(select(ScimGroup.group_id).where(condition))

    assert "EXISTS (SELECT 1 \nFROM group_membership \nWHERE" in text
    assert "group_membership.group_id = scim_group.group_id" in text
    assert "group_membership.user_id = " in text


def test_member_value_path_and_bare_members_mean_the_same() -> None:
    assert sql(compile_group_filter(f'members[value eq "{ALICE}"]')) == sql(
        compile_group_filter(f'members eq "{ALICE}"')
    )


def test_external_id_is_case_exact() -> None:
    text = sql(compile_group_filter('externalId eq "E-1"'))

    assert "lower" not in text
    assert "scim_group.external_id = " in text


@pytest.mark.parametrize(
    "text",
    [
        'title eq "x"',
        "displayName eq 5",
        'meta.created eq "yesterday"',
        "members.display eq",
        'members[nickName eq "x"]',
        'displayName[value eq "x"]',
        "x" * (MAX_FILTER_LENGTH + 1),
    ],
)
def test_refused_filters(text: str) -> None:
    with pytest.raises(InvalidFilter):
        compile_group_filter(text)


def test_sort_keys_and_refusal() -> None:
    assert "lower" in sql(group_sort_key("displayName"))
    assert "lower" in sql(group_sort_key(f"{GROUP_URN}:DISPLAYNAME"))
    assert "lower" not in sql(group_sort_key("externalId"))
    assert sql(group_sort_key("meta.version")) == "scim_group.version"
    for name in ("members", "MEMBERS.value", "members.$ref"):
        assert "ORDER BY group_membership.user_id" in sql(group_sort_key(name))
    for refused in ("meta", "members.display", "urn:example:x:displayName", "x["):
        with pytest.raises(InvalidValue):
            group_sort_key(refused)


def test_member_filter_on_a_value_that_is_no_id_matches_nothing() -> None:
    assert sql(member_filter('members[value eq "nobody"]')) == "false"


def test_member_type_is_always_user_and_display_is_never_stored() -> None:
    assert sql(member_filter('members[type eq "user"]')) == "true"
    assert sql(member_filter("members[display pr]")) == "false"


def test_member_filter_naming_no_sub_attribute_is_refused() -> None:
    with pytest.raises(InvalidPath):
        member_filter('members[emails eq "x"]')


@pytest.mark.parametrize(
    "text",
    [
        r'displayName eq "\ud800"',
        r'displayName eq "a\u0000"',
        r'externalId sw "\udfff"',
    ],
)
def test_compared_text_postgresql_cannot_take_is_an_invalid_filter(text: str) -> None:
    with pytest.raises(InvalidFilter, match=r"U\+0000|surrogate"):
        compile_group_filter(text)
