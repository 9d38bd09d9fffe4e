"""List and search parameters (RFC 7644 §3.4.2, §3.4.3), normalised once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Query

from gateway import urns
from gateway.identity import UserQuery
from gateway.projection import AttributeSelection, attribute_selection
from services.common.errors import InvalidSyntax, InvalidValue

# Advertised in ServiceProviderConfig (filter.maxResults, pagination).
DEFAULT_COUNT = 100
MAX_COUNT = 1000

SORT_ORDERS = ("ascending", "descending")
_INT32_MAX = 2**31 - 1


def user_query(
    *,
    filter: str | None,
    start_index: int | None,
    count: int | None,
    sort_by: str | None,
    sort_order: str | None,
) -> UserQuery:
    """Return the query with paging and sorting as the service expects them."""
    # RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count
    # as 0; a count above our maximum gets the maximum.
    start = 1 if start_index is None else min(max(start_index, 1), _INT32_MAX)
    size = DEFAULT_COUNT if count is None else min(max(count, 0), MAX_COUNT)

    order = (sort_order or "").strip().lower()
    if order and order not in SORT_ORDERS:
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'")

    return UserQuery(
        filter=(filter or "").strip(),
        start_index=start,
        count=size,
        sort_by=(sort_by or "").strip(),
        sort_order=order,
    )


def query_params(
    filter: Annotated[str | None, Query()] = None,
    start_index: Annotated[int | None, Query(alias="startIndex")] = None,
    count: Annotated[int | None, Query()] = None,
    sort_by: Annotated[str | None, Query(alias="sortBy")] = None,
    sort_order: Annotated[str | None, Query(alias="sortOrder")] = None,
) -> UserQuery:
    """Read a list query from the URL (RFC 7644 §3.4.2)."""
    return user_query(
        filter=filter,
        start_index=start_index,
        count=count,
        sort_by=sort_by,
        sort_order=sort_order,
    )


def search_request(body: Mapping[str, Any]) -> tuple[UserQuery, AttributeSelection]:
    """Read a SearchRequest body (RFC 7644 §3.4.3)."""
    # RFC 7643 §2.1: attribute names are case-insensitive.
    fields = {str(key).lower(): value for key, value in body.items()}
    schemas = fields.get("schemas")
    if not isinstance(schemas, list) or urns.SEARCH_REQUEST not in schemas:
        raise InvalidSyntax(f"a search body must have schemas [{urns.SEARCH_REQUEST}]")

    query = user_query(
        filter=_optional_str(fields, "filter"),
        start_index=_optional_int(fields, "startindex"),
        count=_optional_int(fields, "count"),
        sort_by=_optional_str(fields, "sortby"),
        sort_order=_optional_str(fields, "sortorder"),
    )
    selection = attribute_selection(
        attributes=_string_list(fields, "attributes"),
        excluded=_string_list(fields, "excludedattributes"),
    )
    return query, selection


def _optional_str(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidValue(f"{name} must be a string")
    return value


def _optional_int(fields: Mapping[str, Any], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{name} must be an integer")
    return value


def _string_list(fields: Mapping[str, Any], name: str) -> list[str]:
    value = fields.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidValue(f"{name} must be a list of strings")
    return value


ListQuery = Annotated[UserQuery, Depends(query_params)]
