"""SCIM filters (RFC 7644 §3.4.2.2) and sortBy, compiled to SQL over the user table.

scim2-models parses the filter (`ScimFilter.ast`) and provides the visitor the
compiler is built on. Every value reaches PostgreSQL as a bound parameter, and
users are never loaded to be matched in Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from scim2_models import (
    Attribute,
    InvalidFilterException,
    InvalidPathException,
    Mutability,
    Path,
    ScimFilter,
)
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
from sqlalchemy.dialects.postgresql import JSONB

from services.common.errors import InvalidFilter, InvalidValue, clipped
from services.common.filter_values import check_compared_value
from services.identity.models import User, UserStatus, fold_case
from services.identity.scim import jsonb
from services.identity.scim.jsonb import Predicate, SqlValue
from services.identity.scim.matching import check_operand, compare
from services.identity.scim.paths import MAX_PATH_LENGTH
from services.identity.scim.resource import parse_datetime
from services.identity.scim.schema import (
    USER_SCHEMA,
    ResourceSchema,
    Target,
    is_complex,
    name_of,
    sub_attribute_of,
)

# The columns of the user table, as SQL expressions.
_USER = User.__table__.c

# Parsing and compiling take time in proportion to the text, on the event loop
# every request shares; IdP filters are a term or two long.
MAX_FILTER_LENGTH = 8192


def compile_user_filter(
    filter_text: str, *, schema: ResourceSchema = USER_SCHEMA
) -> Predicate:
    """Return the SQL condition on the user table that a SCIM filter stands for.

    Raises:
        InvalidFilter: the filter does not parse, names an attribute the
            schema lacks, or compares a value its attribute cannot take.
    """
    if len(filter_text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    try:
        node = ScimFilter(filter_text).ast
    except InvalidFilterException as error:
        raise InvalidFilter(f"the filter does not parse: {error.detail}") from None
    return _UserFilter(schema).visit(node)


def user_sort_key(sort_by: str, *, schema: ResourceSchema = USER_SCHEMA) -> SqlValue:
    """Return the SQL expression users are ordered by for `sortBy` (RFC 7644 §3.4.2.3).

    Raises:
        InvalidValue: `sort_by` names no attribute a user can be sorted by.
    """
    try:
        node = Path(sort_by).ast if len(sort_by) <= MAX_PATH_LENGTH else None
    except InvalidPathException:
        node = None
    target = schema.resolve(node) if isinstance(node, AttrPath) else None
    if target is None or target.attribute is None:
        raise InvalidValue(f"sortBy '{clipped(sort_by)}' names no attribute of a User")

    column = _sort_column(target)
    if column is not None:
        return column
    _refuse_unkept(target, error=InvalidValue)
    leaf = _compared_attribute(target, error=InvalidValue)
    attribute = target.attribute
    if not attribute.multi_valued:
        return jsonb.typed(jsonb.extract(_USER.attributes, _keys(target)), leaf)

    # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value,
    # else by its first one.
    elements = sa.func.jsonb_array_elements(
        jsonb.as_array(jsonb.extract(_USER.attributes, _keys(target, with_sub=False)))
    ).table_valued(sa.column("value", JSONB), with_ordinality="position")
    elements = elements.render_derived()
    element: SqlValue = elements.c.value
    if is_complex(attribute):
        element = jsonb.extract(element, (name_of(leaf),))
    primary = sa.func.jsonb_extract_path_text(elements.c.value, "primary") == "true"
    return (
        sa.select(jsonb.typed(element, leaf))
        .select_from(elements)
        .order_by(sa.func.coalesce(primary, False).desc(), elements.c.position)
        .limit(1)
        .scalar_subquery()
    )


class _UserFilter(FilterVisitor[Predicate]):
    """Compile a filter over the whole resource."""

    def __init__(self, schema: ResourceSchema) -> None:
        self._schema = schema

    def visit_logical_expr(self, node: LogicalExpr) -> Predicate:
        return _join(node, self.visit)

    def visit_not(self, node: Not) -> Predicate:
        return sa.not_(self.visit(node.expr))

    def visit_present(self, node: Present) -> Predicate:
        target = self._resolve(node.attr_path)
        column = _column_presence(target)
        if column is not None:
            return column
        _refuse_unkept(target, error=InvalidFilter)
        attribute = target.attribute
        assert attribute is not None
        if attribute.multi_valued and target.sub_attribute is not None:
            sub_name = (name_of(target.sub_attribute),)
            return jsonb.exists(
                self._array(target),
                lambda element: jsonb.present(jsonb.extract(element, sub_name)),
            )
        return jsonb.present(jsonb.extract(_USER.attributes, _keys(target)))

    def visit_comparison(self, node: Comparison) -> Predicate:
        check_compared_value(node.value)
        target = self._resolve(node.attr_path)
        column = _column_comparison(target, op=node.op, value=node.value)
        if column is not None:
            return column
        _refuse_unkept(target, error=InvalidFilter)
        leaf = _compared_attribute(target, error=InvalidFilter)
        check_operand(node.value, op=node.op, attribute=leaf, error=InvalidFilter)

        attribute = target.attribute
        assert attribute is not None
        if not attribute.multi_valued:
            value = jsonb.extract(_USER.attributes, _keys(target))
            return _negatable(node, lambda: _compare(value, leaf, node), value)

        def each(element: SqlValue) -> SqlValue:
            return (
                jsonb.extract(element, (name_of(leaf),))
                if is_complex(attribute)
                else element
            )

        array = self._array(target)
        matches = jsonb.exists(
            array, lambda element: _compare(each(element), leaf, node)
        )
        if node.value is None:
            present = jsonb.exists(array, lambda element: jsonb.present(each(element)))
            return present if node.op == CompareOperator.ne else sa.not_(present)
        return sa.not_(matches) if node.op == CompareOperator.ne else matches

    def visit_value_path(self, node: ValuePath) -> Predicate:
        target = self._resolve(node.attr_path)
        attribute = target.attribute
        if attribute is None or not attribute.multi_valued:
            raise InvalidFilter(f"'{node.attr_path}' holds a single value to filter")
        _refuse_unkept(target, error=InvalidFilter)
        return jsonb.exists(
            self._array(target),
            lambda element: _ValueFilter(element, attribute).visit(node.val_filter),
        )

    def _resolve(self, attr_path: AttrPath) -> Target:
        # RFC 7644 §3.4.2.2 lets an attribute no resource type defines evaluate
        # to false only where a search spans several types; on /Users the
        # schema is known, so an unknown name is a client mistake.
        target = self._schema.resolve(attr_path)
        if target is None or target.attribute is None:
            raise InvalidFilter(f"'{clipped(attr_path)}' is not an attribute of a User")
        return target

    def _array(self, target: Target) -> SqlValue:
        return jsonb.extract(_USER.attributes, _keys(target, with_sub=False))


class _ValueFilter(FilterVisitor[Predicate]):
    """Compile the filter inside brackets over one value of a multi-valued attribute."""

    def __init__(self, element: SqlValue, attribute: Attribute) -> None:
        self._element = element
        self._attribute = attribute

    def visit_logical_expr(self, node: LogicalExpr) -> Predicate:
        return _join(node, self.visit)

    def visit_not(self, node: Not) -> Predicate:
        return sa.not_(self.visit(node.expr))

    def visit_present(self, node: Present) -> Predicate:
        value, _ = self._operand(node.attr_path)
        return jsonb.present(value)

    def visit_comparison(self, node: Comparison) -> Predicate:
        check_compared_value(node.value)
        value, leaf = self._operand(node.attr_path)
        check_operand(node.value, op=node.op, attribute=leaf, error=InvalidFilter)
        return _negatable(node, lambda: _compare(value, leaf, node), value)

    def visit_value_path(self, node: ValuePath) -> Predicate:
        raise InvalidFilter("a value filter cannot hold another one")

    def _operand(self, attr_path: AttrPath) -> tuple[SqlValue, Attribute]:
        name = name_of(self._attribute)
        if attr_path.sub_attr is not None or attr_path.uri is not None:
            raise InvalidFilter(
                f"'{clipped(attr_path)}' is not a sub-attribute of '{name}'"
            )
        if not is_complex(self._attribute):
            # The values of a simple attribute are addressed as "value".
            if attr_path.attr.lower() != "value":
                raise InvalidFilter(f"the values of '{name}' are simple")
            return self._element, self._attribute
        sub_attribute = sub_attribute_of(self._attribute, attr_path.attr)
        if sub_attribute is None:
            raise InvalidFilter(f"'{name}' has no sub-attribute '{attr_path.attr}'")
        return jsonb.extract(self._element, (name_of(sub_attribute),)), sub_attribute


def _join(node: LogicalExpr, visit: Callable[[FilterNode], Predicate]) -> Predicate:
    terms = [visit(term) for term in node.terms]
    return sa.and_(*terms) if node.op == LogicalOperator.and_ else sa.or_(*terms)


def _negatable(
    node: Comparison, compare_: Callable[[], Predicate], value: SqlValue
) -> Predicate:
    # RFC 7643 §2.5: null stands for an unassigned attribute.
    if node.value is None:
        present = jsonb.present(value)
        return present if node.op == CompareOperator.ne else sa.not_(present)
    if node.op == CompareOperator.ne:
        return sa.not_(compare_())
    return compare_()


def _column_comparison(
    target: Target, *, op: CompareOperator, value: Any
) -> Predicate | None:
    """Compare the attributes the user table keeps as columns, else None."""
    name, sub = _column_names(target)
    if name not in {"userName", "externalId", "id", "active", "meta"}:
        return None
    leaf = target.leaf
    assert leaf is not None
    if name == "meta" and sub not in {"created", "lastModified", "resourceType"}:
        raise InvalidFilter(f"'{target}' cannot be filtered on")
    check_operand(value, op=op, attribute=leaf, error=InvalidFilter)
    if value is None:
        # These attributes always hold a value, but externalId and active.
        present = _column_presence(target)
        assert present is not None
        return present if op == CompareOperator.ne else sa.not_(present)
    if op == CompareOperator.ne:
        positive = _column_comparison(target, op=CompareOperator.eq, value=value)
        assert positive is not None
        return sa.not_(positive)

    if name == "userName":
        # The unique index of userName holds the folded name, so equality uses it.
        return jsonb.text_condition(_USER.user_name, op, value, case_exact=False)
    if name == "externalId":
        held = jsonb.text_condition(_USER.external_id, op, value, case_exact=True)
        return sa.and_(_USER.external_id.is_not(None), held)
    if name == "id":
        if op == CompareOperator.eq:
            try:
                return _USER.user_id == uuid.UUID(value)
            except ValueError:
                # An id that is no UUID names no user; it is not an error.
                return sa.false()
        return jsonb.text_condition(
            sa.cast(_USER.user_id, sa.Text), op, value, case_exact=True
        )
    if name == "active":
        is_active = _USER.status == UserStatus.ACTIVE
        return is_active if value else _USER.status != UserStatus.ACTIVE
    if sub == "resourceType":
        matched = compare("User", value, op=op, attribute=leaf, error=InvalidFilter)
        return sa.true() if matched else sa.false()
    column = _USER.created_at if sub == "created" else _USER.updated_at
    moment = sa.literal(parse_datetime(value), jsonb.TIMESTAMPTZ)
    return jsonb.ordered(column, op, moment)


def _column_presence(target: Target) -> Predicate | None:
    name, sub = _column_names(target)
    if name == "externalId":
        return sa.and_(_USER.external_id.is_not(None), _USER.external_id != "")
    if name == "userName":
        return _USER.user_name != ""
    if name == "active":
        # Unassigned while the user is ACTIVE and no client set it.
        return sa.or_(
            _USER.attributes.has_key("active"), _USER.status != UserStatus.ACTIVE
        )
    if name == "id" or (name == "meta" and sub != "location"):
        return sa.true()
    if name == "meta":
        return sa.false()
    return None


def _sort_column(target: Target) -> SqlValue | None:
    name, sub = _column_names(target)
    columns: dict[tuple[str, str | None], SqlValue] = {
        ("userName", None): fold_case(_USER.user_name),
        ("externalId", None): _USER.external_id,
        ("id", None): _USER.user_id,
        ("active", None): _USER.status == UserStatus.ACTIVE,
        ("meta", "created"): _USER.created_at,
        ("meta", "lastModified"): _USER.updated_at,
        ("meta", "version"): _USER.version,
        # Every location is the endpoint's URL followed by the id.
        ("meta", "location"): _USER.user_id,
        ("meta", "resourceType"): sa.literal("User"),
    }
    if name == "meta" and (name, sub) not in columns:
        raise InvalidValue(f"sortBy cannot be '{target}'")
    return columns.get((name, sub))


def _column_names(target: Target) -> tuple[str, str | None]:
    if target.extension is not None or target.attribute is None:
        return "", None
    sub = name_of(target.sub_attribute) if target.sub_attribute else None
    return name_of(target.attribute), sub


def _refuse_unkept(
    target: Target, *, error: type[InvalidFilter | InvalidValue]
) -> None:
    """Refuse attributes the stored form never holds."""
    attribute = target.attribute
    if attribute is None:
        raise error(f"'{target}' is a schema, not an attribute")
    if attribute.mutability == Mutability.write_only:
        raise error(f"'{target}' is never stored, so it cannot be compared")
    if name_of(attribute) == "groups" and target.extension is None:
        # Group membership lives with the groups, not in the user's attributes.
        raise error(f"'{target}' cannot be filtered or sorted on here")


def _compared_attribute(
    target: Target, *, error: type[InvalidFilter | InvalidValue]
) -> Attribute:
    """Return the attribute a comparison reads: the sub-attribute, or "value".

    RFC 7644 §3.4.2.2 compares `emails co "example.com"` with the "value" of
    each email.
    """
    attribute = target.attribute
    assert attribute is not None
    if target.sub_attribute is not None:
        return target.sub_attribute
    if not is_complex(attribute):
        return attribute
    value = sub_attribute_of(attribute, "value") if attribute.multi_valued else None
    if value is None:
        raise error(f"'{target}' is compared through one of its sub-attributes")
    return value


def _keys(target: Target, *, with_sub: bool = True) -> tuple[str, ...]:
    """Return the keys leading from the stored form to the attribute."""
    keys: tuple[str, ...] = () if target.extension is None else (target.extension,)
    if target.attribute is not None:
        keys += (name_of(target.attribute),)
    if with_sub and target.sub_attribute is not None:
        keys += (name_of(target.sub_attribute),)
    return keys


def _compare(value: SqlValue, attribute: Attribute, node: Comparison) -> Predicate:
    op = CompareOperator.eq if node.op == CompareOperator.ne else node.op
    return jsonb.compare(value, attribute=attribute, op=op, expected=node.value)
