"""SQL over the JSONB form of a resource: reading values and comparing them.

Every comparison built here is two-valued: it is false, never NULL, where the
value is missing, so that `not` and `ne` keep their SCIM meaning in SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from scim2_models import Attribute
from scim2_models.path import CompareOperator
from sqlalchemy import ColumnElement
from sqlalchemy.dialects.postgresql import JSONB

from services.common.errors import InvalidFilter
from services.identity.models import fold_case
from services.identity.scim.resource import parse_datetime

Predicate = ColumnElement[bool]
SqlValue = ColumnElement[Any]

TIMESTAMPTZ = sa.DateTime(timezone=True)

_EMPTY: SqlValue = sa.literal_column("ARRAY['null', '\"\"', '[]', '{}']::jsonb[]")
_WHOLE: SqlValue = sa.literal_column("'{}'::text[]")
_SUBSTRING = {
    CompareOperator.co: "%{}%",
    CompareOperator.sw: "{}%",
    CompareOperator.ew: "%{}",
}


def extract(document: SqlValue, keys: tuple[str, ...]) -> SqlValue:
    """Return the JSONB value at `keys` in `document`, NULL when there is none."""
    if not keys:
        return document
    return sa.func.jsonb_extract_path(document, *keys, type_=JSONB)


def as_text(value: SqlValue) -> SqlValue:
    """Return a JSONB scalar as text, without the quotes of a JSON string."""
    return value.op("#>>", return_type=sa.Text)(_WHOLE)


def typed(value: SqlValue, attribute: Attribute) -> SqlValue:
    """Return a JSONB value as SQL of its SCIM type; NULL when it holds another.

    Strings come lowered unless the attribute is caseExact, which is the form
    they sort and compare in.
    """
    kind = attribute.type
    if kind in (Attribute.Type.integer, Attribute.Type.decimal):
        return _when(value, "number", sa.cast(as_text(value), sa.Numeric))
    if kind == Attribute.Type.boolean:
        return _when(value, "boolean", sa.cast(as_text(value), sa.Boolean))
    if kind == Attribute.Type.date_time:
        return _when(value, "string", sa.cast(as_text(value), TIMESTAMPTZ))
    text = as_text(value)
    return text if attribute.case_exact else fold_case(text)


def present(value: SqlValue) -> Predicate:
    """RFC 7644 §3.4.2.2 "pr": a value that is neither null nor empty."""
    return sa.func.coalesce(value != sa.all_(_EMPTY), False)


def as_array(value: SqlValue) -> SqlValue:
    """Return a JSONB value when it is an array, else an empty array."""
    return sa.case(
        (sa.func.jsonb_typeof(value) == "array", value),
        else_=sa.literal_column("'[]'::jsonb"),
    )


def exists(array: SqlValue, predicate: Callable[[SqlValue], Predicate]) -> Predicate:
    """Tell whether some value of a JSONB array satisfies `predicate`."""
    element = sa.func.jsonb_array_elements(as_array(array), type_=JSONB)
    value = element.column_valued("element")
    return sa.exists(sa.select(sa.literal(1)).where(predicate(value)))


def compare(
    value: SqlValue, *, attribute: Attribute, op: CompareOperator, expected: Any
) -> Predicate:
    """Compare a JSONB value of `attribute` with a filter's non-null value.

    `ne` is the caller's, as the negation of `eq`.
    """
    kind = attribute.type
    if kind == Attribute.Type.boolean:
        condition = sa.and_(
            sa.func.jsonb_typeof(value) == "boolean",
            as_text(value) == ("true" if expected else "false"),
        )
    elif kind in (Attribute.Type.integer, Attribute.Type.decimal):
        wanted = sa.literal(expected, sa.Numeric)
        condition = ordered(typed(value, attribute), op, wanted)
    elif kind == Attribute.Type.date_time:
        moment = sa.literal(parse_datetime(expected), TIMESTAMPTZ)
        condition = ordered(typed(value, attribute), op, moment)
    else:
        case_exact = bool(attribute.case_exact)
        condition = text_condition(as_text(value), op, expected, case_exact=case_exact)
    return sa.func.coalesce(condition, False)


def text_condition(
    held: SqlValue, op: CompareOperator, expected: str, *, case_exact: bool
) -> Predicate:
    """Compare text with a filter's string; case is ignored unless caseExact.

    The string is bound as a parameter; for co, sw and ew the LIKE wildcards it
    holds are escaped, so that they match themselves.
    """
    if op in _SUBSTRING:
        escaped = expected.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern: SqlValue = sa.literal(_SUBSTRING[op].format(escaped), sa.Text)
        if not case_exact:
            held, pattern = fold_case(held), fold_case(pattern)
        return held.like(pattern, escape="\\")

    wanted: SqlValue = sa.literal(expected, sa.Text)
    if not case_exact:
        held, wanted = fold_case(held), fold_case(wanted)
    return ordered(held, op, wanted)


def ordered(held: SqlValue, op: CompareOperator, wanted: SqlValue) -> Predicate:
    """Apply eq or an ordering operator."""
    if op == CompareOperator.eq:
        return held == wanted
    if op == CompareOperator.gt:
        return held > wanted
    if op == CompareOperator.ge:
        return held >= wanted
    if op == CompareOperator.lt:
        return held < wanted
    if op == CompareOperator.le:
        return held <= wanted
    raise InvalidFilter(f"'{op.value}' does not apply to this attribute")


def _when(value: SqlValue, json_type: str, converted: SqlValue) -> SqlValue:
    # CASE, unlike AND, guarantees the cast only runs on a value of its type.
    return sa.case((sa.func.jsonb_typeof(value) == json_type, converted))
