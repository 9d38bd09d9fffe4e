"""Paging a root search: the groups' part of a page continues the users'."""

from __future__ import annotations

import pytest

from gateway.identity import UserQuery
from gateway.root_search import groups_part


def query(start_index: int, count: int) -> UserQuery:
    return UserQuery(
        filter="", start_index=start_index, count=count, sort_by="", sort_order=""
    )


@pytest.mark.parametrize(
    ("start", "count", "user_total", "users_listed", "group_start", "group_count"),
    [
        # Among the users, with room left: the groups from the first.
        (1, 10, 3, 3, 1, 7),
        (3, 2, 3, 1, 1, 1),
        # The users fill the page: the groups are only counted.
        (1, 2, 5, 2, 1, 0),
        # Past the users: that far into the groups.
        (4, 2, 3, 0, 1, 2),
        (9, 5, 3, 0, 6, 5),
        # No users at all.
        (2, 3, 0, 0, 2, 3),
    ],
)
def test_groups_part_starts_where_the_users_part_ends(
    start: int,
    count: int,
    user_total: int,
    users_listed: int,
    group_start: int,
    group_count: int,
) -> None:
    part = groups_part(
        query(start, count), user_total=user_total, users_listed=users_listed
    )

    assert (part.start_index, part.count) == (group_start, group_count)
