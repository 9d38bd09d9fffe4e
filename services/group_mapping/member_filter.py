"""The filter of a `members[...]` PATCH path, compiled to SQL over memberships.

`remove members[value eq "id"]` deletes rows of `group_membership`; the filter
becomes the WHERE clause, so no member is read to be matched. A member's
`value` is its user id and its `type` is always "User"; `display` and `$ref`
are not stored, so they are unassigned here.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
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

from services.common.errors import InvalidPath, clipped, quoted
from services.group_mapping.models import GroupMembership

Predicate = ColumnElement[bool]

MEMBER_TYPE = "User"
_UNSTORED = frozenset({"display", "$ref"})
_LIKE = {
    CompareOperator.co: "%{}%",
    CompareOperator.sw: "{}%",
    CompareOperator.ew: "%{}",
}


def compile_member_filter(node: FilterNode) -> Predicate:
    """Return the condition on `group_membership` a member filter stands for.

    Raises:
        InvalidPath: the filter names what a member does not have, or nests
            another value filter.
    """
    return _MemberFilter().visit(node)


class _MemberFilter(FilterVisitor[Predicate]):
    def visit_logical_expr(self, node: LogicalExpr) -> Predicate:
        terms = [self.visit(term) for term in node.terms]
        return sa.and_(*terms) if node.op == LogicalOperator.and_ else sa.or_(*terms)

    def visit_not(self, node: Not) -> Predicate:
        return sa.not_(self.visit(node.expr))

    def visit_present(self, node: Present) -> Predicate:
        name = _name(node.attr_path)
        return sa.false() if name in _UNSTORED else sa.true()

    def visit_comparison(self, node: Comparison) -> Predicate:
        name = _name(node.attr_path)
        if node.value is not None and not isinstance(node.value, str):
            raise InvalidPath(
                f"members are compared with strings, not {quoted(node.value)}"
            )
        if node.op == CompareOperator.ne:
            return sa.not_(self._compare(name, CompareOperator.eq, node.value))
        return self._compare(name, node.op, node.value)

    def visit_value_path(self, node: ValuePath) -> Predicate:
        raise InvalidPath("a member filter cannot hold another one")

    @staticmethod
    def _compare(name: str, op: CompareOperator, value: str | None) -> Predicate:
        # RFC 7643 §2.5: null stands for unassigned; every member has a value
        # and a type, and never a display or $ref here.
        if value is None:
            return sa.true() if name in _UNSTORED else sa.false()
        if name in _UNSTORED:
            return sa.false()
        if name == "type":
            return sa.true() if _holds(MEMBER_TYPE, op, value) else sa.false()
        if op == CompareOperator.eq:
            try:
                return GroupMembership.user_id == uuid.UUID(value)
            except ValueError:
                # A value that is no id of ours names no member.
                return sa.false()
        held = sa.cast(GroupMembership.user_id, sa.Text)
        if op in _LIKE:
            escaped = value.lower().translate({92: r"\\", 37: r"\%", 95: r"\_"})
            return held.like(_LIKE[op].format(escaped), escape="\\")
        return _ordered(held, op, value.lower())


def _name(attr_path: AttrPath) -> str:
    if attr_path.uri is not None or attr_path.sub_attr is not None:
        raise InvalidPath(f"'{clipped(attr_path)}' is not a sub-attribute of members")
    name = attr_path.attr.lower()
    known = {"value": "value", "type": "type", "display": "display", "$ref": "$ref"}
    if name not in known:
        raise InvalidPath(f"members have no sub-attribute '{attr_path.attr}'")
    return known[name]


def _holds(held: str, op: CompareOperator, value: str) -> bool:
    # `type` is caseExact false (RFC 7643 §4.2).
    held, value = held.lower(), value.lower()
    if op == CompareOperator.eq:
        return held == value
    if op == CompareOperator.co:
        return value in held
    if op == CompareOperator.sw:
        return held.startswith(value)
    if op == CompareOperator.ew:
        return held.endswith(value)
    comparisons = {
        CompareOperator.gt: held > value,
        CompareOperator.ge: held >= value,
        CompareOperator.lt: held < value,
        CompareOperator.le: held <= value,
    }
    return comparisons[op]


def _ordered(held: ColumnElement[str], op: CompareOperator, value: str) -> Predicate:
    if op == CompareOperator.gt:
        return held > value
    if op == CompareOperator.ge:
        return held >= value
    if op == CompareOperator.lt:
        return held < value
    return held <= value
