"""Which values of a multi-valued attribute a PATCH selects, or already holds.

The filter comes parsed by scim2-models; its own evaluator reads pydantic
resources, and a stored resource here is a JSON object, so the values are
walked with a `FilterVisitor` of our own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scim2_models import Attribute
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

from services.common.errors import ScimError, clipped
from services.identity.scim.resource import coerce, parse_datetime
from services.identity.scim.schema import is_complex, name_of, sub_attribute_of

_ORDERING = {
    CompareOperator.gt,
    CompareOperator.ge,
    CompareOperator.lt,
    CompareOperator.le,
}
_SUBSTRING = {CompareOperator.co, CompareOperator.sw, CompareOperator.ew}


def selected_indexes(
    values: list[Any],
    val_filter: FilterNode | None,
    *,
    attribute: Attribute,
    error: type[ScimError],
) -> list[int]:
    """Return where the values `val_filter` matches are; every value without one."""
    if val_filter is None:
        return list(range(len(values)))
    matcher = _Matcher(attribute=attribute, error=error)
    return [i for i, value in enumerate(values) if matcher.matches(value, val_filter)]


def check_filter(
    val_filter: FilterNode, *, attribute: Attribute, error: type[ScimError]
) -> None:
    """Raise `error` when a value filter names or compares what `attribute` lacks."""
    _Matcher(attribute=attribute, error=error).check(val_filter)


def described_value(
    val_filter: FilterNode, *, attribute: Attribute
) -> dict[str, Any] | None:
    """Return the value a filter of `eq` terms joined by `and` describes, else None.

    `emails[type eq "work"]` describes {"type": "work"}: what a value must
    hold to be selected, which is what an IdP expects to be created when it
    writes through a filter that matches nothing.
    """
    terms = (
        val_filter.terms
        if isinstance(val_filter, LogicalExpr) and val_filter.op == LogicalOperator.and_
        else (val_filter,)
    )
    described: dict[str, Any] = {}
    for term in terms:
        if not (
            isinstance(term, Comparison)
            and term.op == CompareOperator.eq
            and term.value is not None
            and term.attr_path.sub_attr is None
        ):
            return None
        sub_attribute = sub_attribute_of(attribute, term.attr_path.attr)
        if sub_attribute is None:
            return None
        name = name_of(sub_attribute)
        described[name] = coerce(sub_attribute, term.value, where=name)
    return described if is_complex(attribute) else None


def comparable(value: Any, *, attribute: Attribute) -> Any:
    """Return the form two values of `attribute` are compared in.

    RFC 7643 §2.1 and §2.3.1: strings compare ignoring case unless the
    attribute is caseExact.
    """
    if isinstance(value, str) and not attribute.case_exact:
        return value.lower()
    return value


def compare(
    actual: Any,
    expected: Any,
    *,
    op: CompareOperator,
    attribute: Attribute,
    error: type[ScimError],
) -> bool:
    """Apply a filter operator to one value of `attribute` (RFC 7644 §3.4.2.2)."""
    check_operand(expected, op=op, attribute=attribute, error=error)
    if expected is None:
        # RFC 7643 §2.5: null is the state of an unassigned attribute.
        return (actual is None) == (op == CompareOperator.eq)
    if actual is None:
        return op == CompareOperator.ne

    kind = attribute.type
    if kind == Attribute.Type.date_time:
        left: Any = parse_datetime(actual) if isinstance(actual, str) else None
        right: Any = parse_datetime(expected)
        if left is None:
            return op == CompareOperator.ne
    else:
        left = comparable(actual, attribute=attribute)
        right = comparable(expected, attribute=attribute)
        if type(left) is not type(right) and not (
            _is_number(left) and _is_number(right)
        ):
            return op == CompareOperator.ne

    if op == CompareOperator.eq:
        return bool(left == right)
    if op == CompareOperator.ne:
        return bool(left != right)
    if op == CompareOperator.co:
        return bool(right in left)
    if op == CompareOperator.sw:
        return bool(left.startswith(right))
    if op == CompareOperator.ew:
        return bool(left.endswith(right))
    if op == CompareOperator.gt:
        return bool(left > right)
    if op == CompareOperator.ge:
        return bool(left >= right)
    if op == CompareOperator.lt:
        return bool(left < right)
    return bool(left <= right)


def check_operand(
    expected: Any,
    *,
    op: CompareOperator,
    attribute: Attribute,
    error: type[ScimError],
) -> None:
    """Refuse an operator or a value that `attribute` cannot be compared with."""
    name = name_of(attribute)
    if expected is None:
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise error(f"'{name}' can only be compared to null with eq or ne")
        return

    kind = attribute.type
    if kind in (Attribute.Type.boolean, Attribute.Type.binary):
        # RFC 7644 §3.4.2.2: ordering a boolean or binary attribute fails with
        # invalidFilter; substrings of them mean nothing either.
        if op in _ORDERING | _SUBSTRING:
            raise error(f"'{op.value}' cannot compare the {kind.value} '{name}'")
    if kind in (Attribute.Type.integer, Attribute.Type.decimal):
        if op in _SUBSTRING:
            raise error(f"'{op.value}' cannot compare the number '{name}'")
        if not _is_number(expected):
            raise error(f"'{name}' is compared with a number")
        return
    if kind == Attribute.Type.boolean:
        if not isinstance(expected, bool):
            raise error(f"'{name}' is compared with true or false")
        return
    if not isinstance(expected, str):
        raise error(f"'{name}' is compared with a string")
    if kind == Attribute.Type.date_time:
        if op in _SUBSTRING:
            raise error(f"'{op.value}' cannot compare the dateTime '{name}'")
        if parse_datetime(expected) is None:
            raise error(f"'{clipped(expected)}' is not an xsd:dateTime for '{name}'")


def index_of_same(current: list[Any], item: Any, *, attribute: Attribute) -> int | None:
    """Return where `current` already holds `item`, or None.

    A complex value with a "value" sub-attribute is the same as one with an
    equal "value" (and equal "type", when given); another complex value is
    the same as one holding all its sub-attributes.
    """
    for index, held in enumerate(current):
        if isinstance(item, dict) and isinstance(held, dict) and "value" in item:
            keys = ["value", "type"] if "type" in item else ["value"]
            if holds(held, {key: item[key] for key in keys}, attribute=attribute):
                return index
        elif holds(held, item, attribute=attribute):
            return index
    return None


def holds(held: Any, item: Any, *, attribute: Attribute) -> bool:
    """Tell whether `held` holds `item`: equal, or holding all its sub-attributes."""
    if not isinstance(item, dict):
        return _same(held, item, attribute)
    if not isinstance(held, dict):
        return False
    for key, wanted in item.items():
        sub_attribute = sub_attribute_of(attribute, key) or attribute
        if not _same(held.get(key), wanted, sub_attribute):
            return False
    return True


def _same(held: Any, wanted: Any, attribute: Attribute) -> bool:
    return bool(
        comparable(held, attribute=attribute) == comparable(wanted, attribute=attribute)
    )


def merged(held: Any, item: Any, *, attribute: Attribute) -> Any:
    """Return `held` with the sub-attributes of `item` it does not hold already."""
    if not (isinstance(held, dict) and isinstance(item, dict)):
        return held
    changed = {
        key: value
        for key, value in item.items()
        if not _same(
            held.get(key), value, sub_attribute_of(attribute, key) or attribute
        )
    }
    return {**held, **changed}


class _Matcher(FilterVisitor[bool]):
    """Evaluate a value filter against one value of a multi-valued attribute."""

    def __init__(self, *, attribute: Attribute, error: type[ScimError]) -> None:
        self._attribute = attribute
        self._error = error
        self._value: Any = None

    def matches(self, value: Any, val_filter: FilterNode) -> bool:
        self._value = value
        return self.visit(val_filter)

    def check(self, node: FilterNode) -> None:
        """Check every term of a filter, which evaluation may skip."""
        if isinstance(node, LogicalExpr):
            for term in node.terms:
                self.check(term)
        elif isinstance(node, Not):
            self.check(node.expr)
        elif isinstance(node, Comparison):
            _, attribute = self._operand(node.attr_path)
            check_operand(
                node.value, op=node.op, attribute=attribute, error=self._error
            )
        else:
            self.visit(node)

    def _operand(self, path: AttrPath) -> tuple[Any, Attribute]:
        if path.sub_attr is not None or path.uri is not None:
            raise self._error(f"'{clipped(path)}' is not a sub-attribute of a value")
        if not is_complex(self._attribute):
            # Simple values are addressed as "value", as in
            # schemas[value eq "urn:..."] (RFC 7644 §3.5.2.2).
            if path.attr.lower() != "value":
                raise self._error(f"values of '{name_of(self._attribute)}' are simple")
            return self._value, self._attribute
        sub_attribute = sub_attribute_of(self._attribute, path.attr)
        if sub_attribute is None:
            raise self._error(
                f"'{name_of(self._attribute)}' has no sub-attribute '{path.attr}'"
            )
        held = self._value if isinstance(self._value, Mapping) else {}
        return held.get(name_of(sub_attribute)), sub_attribute

    def visit_comparison(self, node: Comparison) -> bool:
        actual, attribute = self._operand(node.attr_path)
        return compare(
            actual, node.value, op=node.op, attribute=attribute, error=self._error
        )

    def visit_present(self, node: Present) -> bool:
        actual, _ = self._operand(node.attr_path)
        return actual not in (None, "", [], {})

    def visit_not(self, node: Not) -> bool:
        return not self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> bool:
        results = (self.visit(term) for term in node.terms)
        return all(results) if node.op == LogicalOperator.and_ else any(results)

    def visit_value_path(self, node: ValuePath) -> bool:
        raise self._error("a value filter cannot hold another one")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
