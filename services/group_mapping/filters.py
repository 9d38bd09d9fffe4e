"""Filters and sortBy of a Group listing (RFC 7644 §3.4.2), compiled to SQL.

IdPs look groups up by `displayName` (Okta, Entra), `externalId` and
`members.value`; `id` and `meta.created` / `meta.lastModified` work too. A
member condition is an EXISTS over the membership rows, so a group's members
are never loaded to match it. Every value is a bound parameter.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from scim2_models import InvalidFilterException, InvalidPathException, Path, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import ColumnElement

from services.common.errors import (
    InvalidFilter,
    InvalidPath,
    InvalidValue,
    clipped,
    quoted,
)
from services.common.filter_values import check_compared_value
from services.group_mapping.member_filter import Predicate, compile_member_filter
from services.group_mapping.models import GroupMembership, ScimGroup, fold_case
from services.group_mapping.resource import GROUP_URN

# A filter IdPs send is a few dozen characters; the parser's work grows with
# the text, so a bound keeps one request from holding a worker.
MAX_FILTER_LENGTH = 8192
MAX_SORT_BY_LENGTH = 1024

_GROUP = ScimGroup.__table__.c
_MEMBERS = GroupMembership.__table__.c
_LIKE = {
    CompareOperator.co: "%{}%",
    CompareOperator.sw: "{}%",
    CompareOperator.ew: "%{}",
}
_ALWAYS_PRESENT = frozenset(
    {
        ("displayname", None),
        ("id", None),
        ("meta", None),
        ("meta", "created"),
        ("meta", "lastmodified"),
        ("meta", "resourcetype"),
        ("meta", "version"),
    }
)
_ORDERING = {
    CompareOperator.eq: sa.sql.operators.eq,
    CompareOperator.gt: sa.sql.operators.gt,
    CompareOperator.ge: sa.sql.operators.ge,
    CompareOperator.lt: sa.sql.operators.lt,
    CompareOperator.le: sa.sql.operators.le,
}


def compile_group_filter(filter_text: str) -> Predicate:
    """Return the SQL condition on `scim_group` a SCIM filter stands for.

    Raises:
        InvalidFilter: the filter does not parse, or names or compares what a
            Group does not have.
    """
    if len(filter_text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    try:
        node = ScimFilter(filter_text).ast
    except InvalidFilterException as error:
        raise InvalidFilter(f"the filter does not parse: {error.detail}") from None
    return _GroupFilter().visit(node)


def group_sort_key(sort_by: str) -> ColumnElement[Any]:
    """Return what groups are ordered by for `sortBy` (RFC 7644 §3.4.2.3).

    Every simple attribute sorts, and so do `members` and its sub-attributes:
    a multi-valued attribute sorts by its first value, and members are listed
    by id, so by the lowest member id. Text sorts ignoring case unless the
    attribute is caseExact (`displayName` is not, `externalId` is).

    Raises:
        InvalidValue: `sort_by` names nothing a group can be sorted by.
    """
    try:
        node = Path(sort_by).ast if len(sort_by) <= MAX_SORT_BY_LENGTH else None
        names = _names(node) if isinstance(node, AttrPath) else None
    except (InvalidPathException, InvalidFilter):
        names = None
    key = _SORT_KEYS.get(names) if names is not None else None
    if key is None:
        raise InvalidValue(
            f"sortBy '{clipped(sort_by)}' names nothing a Group sorts by"
        )
    return key()


def _first_member() -> ColumnElement[Any]:
    # The membership key (group_id, user_id) hands out the first at once.
    return (
        sa.select(_MEMBERS.user_id)
        .where(_MEMBERS.group_id == _GROUP.group_id)
        .correlate(ScimGroup.__table__)
        .order_by(_MEMBERS.user_id)
        .limit(1)
        .scalar_subquery()
    )


def _member_type() -> ColumnElement[Any]:
    return sa.case((_with_member(None), sa.literal("User")))


_SORT_KEYS: dict[tuple[str, str | None], Callable[[], ColumnElement[Any]]] = {
    ("displayname", None): lambda: fold_case(_GROUP.display_name),
    ("externalid", None): lambda: _GROUP.external_id,
    ("id", None): lambda: _GROUP.group_id,
    ("members", None): _first_member,
    ("members", "value"): _first_member,
    # A member's $ref is its value under the Users endpoint.
    ("members", "$ref"): _first_member,
    ("members", "type"): _member_type,
    ("meta", "created"): lambda: _GROUP.created_at,
    ("meta", "lastmodified"): lambda: _GROUP.updated_at,
    ("meta", "version"): lambda: _GROUP.version,
    # Every location is the endpoint's URL followed by the id.
    ("meta", "location"): lambda: _GROUP.group_id,
    ("meta", "resourcetype"): lambda: sa.literal("Group"),
}


class _GroupFilter(FilterVisitor[Predicate]):
    def visit_logical_expr(self, node: LogicalExpr) -> Predicate:
        terms = [self.visit(term) for term in node.terms]
        return sa.and_(*terms) if node.op == LogicalOperator.and_ else sa.or_(*terms)

    def visit_not(self, node: Not) -> Predicate:
        return sa.not_(self.visit(node.expr))

    def visit_present(self, node: Present) -> Predicate:
        name, sub = _names(node.attr_path)
        if name == "members":
            return _with_member(None if sub is None else Present(attr_path=_sub(sub)))
        if name == "externalid":
            return sa.and_(_GROUP.external_id.is_not(None), _GROUP.external_id != "")
        if (name, sub) in _ALWAYS_PRESENT:
            return sa.true()
        if (name, sub) == ("meta", "location"):
            # The location is the gateway's; nothing stored holds it.
            return sa.false()
        raise InvalidFilter(
            f"'{clipped(node.attr_path)}' is not an attribute of a Group"
        )

    def visit_comparison(self, node: Comparison) -> Predicate:
        check_compared_value(node.value)
        name, sub = _names(node.attr_path)
        if name == "members":
            # RFC 7644 §3.4.2.2: a complex multi-valued attribute compares
            # through its "value".
            inner = Comparison(
                attr_path=_sub(sub or "value"), op=node.op, value=node.value
            )
            if node.op == CompareOperator.ne:
                positive = Comparison(
                    attr_path=inner.attr_path, op=CompareOperator.eq, value=node.value
                )
                return sa.not_(_with_member(positive))
            return _with_member(inner)
        compare = _COMPARISONS.get((name, sub))
        if compare is None:
            raise InvalidFilter(f"'{node.attr_path}' cannot be filtered on in a Group")
        if node.value is None:
            # RFC 7643 §2.5: null stands for unassigned; only externalId can be.
            unassigned = _GROUP.external_id.is_(None) if name == "externalid" else None
            absent = unassigned if unassigned is not None else sa.false()
            return sa.not_(absent) if node.op == CompareOperator.ne else absent
        if node.op == CompareOperator.ne:
            return sa.not_(compare(CompareOperator.eq, node.value))
        return compare(node.op, node.value)

    def visit_value_path(self, node: ValuePath) -> Predicate:
        name, sub = _names(node.attr_path)
        if name != "members" or sub is not None:
            raise InvalidFilter(f"'{node.attr_path}' holds a single value to filter")
        return _with_member(node.val_filter)


def _with_member(member_filter: FilterNode | None) -> Predicate:
    """Groups with a member the filter selects (any member, without one)."""
    query: sa.Select[Any] = (
        sa.select(sa.literal_column("1"))
        .where(_MEMBERS.group_id == _GROUP.group_id)
        .correlate(ScimGroup.__table__)
    )
    if member_filter is not None:
        try:
            query = query.where(compile_member_filter(member_filter))
        except InvalidPath as error:
            raise InvalidFilter(error.detail) from None
    return sa.exists(query)


def _sub(name: str) -> AttrPath:
    return AttrPath(attr=name)


def _names(node: AttrPath) -> tuple[str, str | None]:
    if node.uri is not None and node.uri.lower() != GROUP_URN.lower():
        raise InvalidFilter(f"'{clipped(node)}' is not an attribute of a Group")
    return node.attr.lower(), node.sub_attr.lower() if node.sub_attr else None


def _text(
    column: ColumnElement[Any], *, case_exact: bool
) -> Callable[[CompareOperator, Any], Predicate]:
    def compare(op: CompareOperator, value: Any) -> Predicate:
        if not isinstance(value, str):
            raise InvalidFilter(f"compare with a string, not {quoted(value)}")
        held: ColumnElement[Any] = column
        wanted: ColumnElement[Any] = sa.literal(value, sa.Text)
        if op in _LIKE:
            escaped = value.translate({92: r"\\", 37: r"\%", 95: r"\_"})
            wanted = sa.literal(_LIKE[op].format(escaped), sa.Text)
        if not case_exact:
            held, wanted = fold_case(held), fold_case(wanted)
        if op in _LIKE:
            return sa.and_(column.is_not(None), held.like(wanted, escape="\\"))
        return sa.and_(column.is_not(None), _ORDERING[op](held, wanted))

    return compare


def _group_id(op: CompareOperator, value: Any) -> Predicate:
    if op == CompareOperator.eq and isinstance(value, str):
        try:
            return _GROUP.group_id == uuid.UUID(value)
        except ValueError:
            # An id that is no UUID names no group; it is not an error.
            return sa.false()
    return _text(sa.cast(_GROUP.group_id, sa.Text), case_exact=True)(op, value)


def _moment(
    column: ColumnElement[datetime],
) -> Callable[[CompareOperator, Any], Predicate]:
    def compare(op: CompareOperator, value: Any) -> Predicate:
        if op in _LIKE or not isinstance(value, str):
            raise InvalidFilter("a date is compared with eq, gt, ge, lt or le")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidFilter(f"{quoted(value)} is no xsd:dateTime") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _ORDERING[op](column, sa.literal(moment, sa.DateTime(timezone=True)))

    return compare


def _resource_type(op: CompareOperator, value: Any) -> Predicate:
    if op != CompareOperator.eq or not isinstance(value, str):
        raise InvalidFilter("meta.resourceType is compared with eq")
    return sa.true() if value.lower() == "group" else sa.false()


_COMPARISONS: dict[
    tuple[str, str | None], Callable[[CompareOperator, Any], Predicate]
] = {
    ("displayname", None): _text(_GROUP.display_name, case_exact=False),
    ("externalid", None): _text(_GROUP.external_id, case_exact=True),
    ("id", None): _group_id,
    ("meta", "created"): _moment(_GROUP.created_at),
    ("meta", "lastmodified"): _moment(_GROUP.updated_at),
    ("meta", "resourcetype"): _resource_type,
}
