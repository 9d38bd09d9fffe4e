"""Role changes: a user's roles are the union of their groups' roles."""

from __future__ import annotations

import uuid

from services.group_mapping.events import RoleChange
from services.group_mapping.members import MemberChanges
from services.group_mapping.roles import Membership, role_changes

ALICE, BOB, CAROL = (uuid.UUID(int=n) for n in (1, 2, 3))
APPROVER = frozenset({"finance.approver"})


def test_joining_a_mapped_group_adds_its_roles() -> None:
    changes = role_changes(
        [Membership(ALICE, False, True)],
        group_roles_before=APPROVER,
        group_roles_after=APPROVER,
        elsewhere={ALICE: frozenset({"staff"})},
    )

    assert changes == [RoleChange(ALICE, ("staff",), ("finance.approver", "staff"))]


def test_a_role_held_through_another_group_is_no_change() -> None:
    changes = role_changes(
        [Membership(ALICE, True, False)],
        group_roles_before=APPROVER,
        group_roles_after=APPROVER,
        elsewhere={ALICE: APPROVER},
    )

    assert changes == []


def test_mapping_a_role_changes_every_member_who_lacked_it() -> None:
    changes = role_changes(
        [Membership(ALICE, True, True), Membership(BOB, True, True)],
        group_roles_before=frozenset(),
        group_roles_after=APPROVER,
        elsewhere={BOB: APPROVER},
    )

    assert changes == [RoleChange(ALICE, (), ("finance.approver",))]


def test_a_group_without_roles_changes_no_one() -> None:
    changes = role_changes(
        [Membership(ALICE, False, True), Membership(BOB, True, False)],
        group_roles_before=frozenset(),
        group_roles_after=frozenset(),
        elsewhere={},
    )

    assert changes == []


def test_member_changes_count_the_net_effect() -> None:
    changes = MemberChanges()

    changes.deleted([ALICE])
    changes.inserted([ALICE, BOB])
    changes.deleted([CAROL])

    assert changes.gained == [BOB]
    assert changes.lost == [CAROL]
    assert changes


def test_removing_and_adding_back_is_no_change() -> None:
    changes = MemberChanges()

    changes.deleted([ALICE])
    changes.inserted([ALICE])

    assert not changes
