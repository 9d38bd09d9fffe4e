"""Partial representations: `attributes` and `excludedAttributes` (RFC 7644 §3.9).

Names are matched case-insensitively (RFC 7643 §2.1) and may be qualified by
their schema URN (RFC 7644 §3.10): `name.givenName`,
`urn:ietf:params:scim:schemas:core:2.0:User:userName`, an extension's
`urn:...:enterprise:2.0:User:department`, or a whole extension by its URN.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from services.common.errors import InvalidValue

# RFC 7643 §7: "id" is returned always (so is the message's "schemas"),
# whatever the client asked for; "password" is returned never (§4.1.1).
ALWAYS_RETURNED = frozenset({"id", "schemas"})
NEVER_RETURNED = frozenset({"password"})

_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class AttributeSelection:
    """The attributes a client asked for, or asked to leave out."""

    attributes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


def attribute_selection(
    *, attributes: Iterable[str], excluded: Iterable[str]
) -> AttributeSelection:
    """Return the selection named by comma-separated attribute lists."""
    chosen, dropped = _names(attributes), _names(excluded)
    if chosen and dropped:
        raise InvalidValue(
            "attributes and excludedAttributes are mutually exclusive (RFC 7644 §3.9)"
        )
    return AttributeSelection(attributes=chosen, excluded=dropped)


def selection_params(
    attributes: Annotated[str | None, Query()] = None,
    excluded_attributes: Annotated[
        str | None, Query(alias="excludedAttributes")
    ] = None,
) -> AttributeSelection:
    """Read the selection from the URL."""
    return attribute_selection(
        attributes=[attributes or ""], excluded=[excluded_attributes or ""]
    )


def project(
    resource: Mapping[str, Any], selection: AttributeSelection, *, core_schema: str
) -> dict[str, Any]:
    """Return the representation of `resource` the client asked for."""
    visible = {k: v for k, v in resource.items() if k.lower() not in NEVER_RETURNED}
    if not selection.attributes and not selection.excluded:
        return visible

    extensions = {key.lower() for key in resource if ":" in key}
    core = core_schema.lower()
    tree = _Node()
    for name in selection.attributes or selection.excluded:
        tree.add(_segments(name, core_schema=core, extensions=extensions))
    for name in ALWAYS_RETURNED:
        tree.children.pop(name, None)

    if selection.attributes:
        kept = _keep(visible, tree)
        chosen = kept if kept is not _ABSENT else {}
        return {
            key: chosen.get(key, value)
            for key, value in visible.items()
            if key.lower() in ALWAYS_RETURNED or key in chosen
        }
    result: dict[str, Any] = _drop(visible, tree)
    return result


def returns(selection: AttributeSelection, name: str, *, core_schema: str) -> bool:
    """Tell whether the representation keeps any part of top-level attribute `name`.

    Lets a caller skip fetching what the client left out, such as a group's
    members with `excludedAttributes=members`.
    """
    names = selection.attributes or selection.excluded
    if not names:
        return True
    tree = _Node()
    for selected in names:
        tree.add(_segments(selected, core_schema=core_schema.lower(), extensions=()))
    child = tree.children.get(name.lower())
    if selection.attributes:
        return child is not None or name.lower() in ALWAYS_RETURNED
    return child is None or not child.whole


class _Node:
    """A tree of lower-cased attribute names; `whole` selects a full subtree."""

    __slots__ = ("children", "whole")

    def __init__(self) -> None:
        self.whole = False
        self.children: dict[str, _Node] = {}

    def add(self, segments: list[str]) -> None:
        node = self
        for segment in segments:
            if node.whole:
                return
            node = node.children.setdefault(segment, _Node())
        node.whole = True
        node.children.clear()


def _names(values: Iterable[str]) -> tuple[str, ...]:
    names = (name.strip() for value in values for name in value.split(","))
    return tuple(name for name in names if name)


def _segments(name: str, *, core_schema: str, extensions: Collection[str]) -> list[str]:
    """Return the path of keys `name` selects in a resource."""
    lowered = name.lower()
    if lowered in extensions:
        return [lowered]
    if not lowered.startswith("urn:"):
        return lowered.split(".")

    # An attribute name holds no colon, so the URN ends at the last one.
    urn, _, attribute = lowered.rpartition(":")
    segments = attribute.split(".")
    return segments if urn == core_schema else [urn, *segments]


def _keep(value: Any, node: _Node) -> Any:
    """Return the parts of `value` the tree selects, or `_ABSENT`."""
    if node.whole:
        return value
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            child = node.children.get(key.lower())
            picked = _ABSENT if child is None else _keep(item, child)
            if picked is not _ABSENT:
                kept[key] = picked
        return kept or _ABSENT
    if isinstance(value, list):
        # A sub-attribute of a multi-valued attribute is picked in every value.
        picked = [_keep(item, node) for item in value]
        return [item for item in picked if item is not _ABSENT] or _ABSENT
    return _ABSENT


def _drop(value: Any, node: _Node) -> Any:
    """Return `value` without the parts the tree selects (`_ABSENT` if none left)."""
    if node.whole:
        return _ABSENT
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            child = node.children.get(key.lower())
            if child is None:
                result[key] = item
                continue
            remaining = _drop(item, child)
            # A complex value left with no sub-attribute is left out entirely.
            if remaining is not _ABSENT and remaining not in ({}, []):
                result[key] = remaining
        return result
    if isinstance(value, list):
        remaining = [_drop(item, node) for item in value]
        return [item for item in remaining if item is not _ABSENT]
    return value


Projection = Annotated[AttributeSelection, Depends(selection_params)]
