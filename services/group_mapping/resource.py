"""The SCIM Group (RFC 7643 §4.2) as IdPs send it, read into what is stored.

A group has a `displayName`, an optional `externalId` and `members`. Members
are users of the group's org, named by their id in `value`; `type` may be left
out, `display` and `$ref` are the server's to fill and are ignored when sent.
Other attributes, such as the extension Entra names in `schemas`, are left out
rather than refused (RFC 7644 §3.3), as for users.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidSyntax, InvalidValue, quoted

GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_DISPLAY_NAME = 512
MAX_EXTERNAL_ID = 512
_CORE_PREFIX = GROUP_URN.lower() + ":"


@dataclass(frozen=True, slots=True)
class GroupBody:
    """A group as a POST or PUT body describes it."""

    display_name: str
    external_id: str | None
    member_ids: tuple[str, ...]


def read_group(payload: object) -> GroupBody:
    """Read a Group body sent with POST or PUT.

    Raises:
        InvalidSyntax: the body is not a JSON object, or its `schemas` does
            not list the core Group schema.
        InvalidValue: `displayName` is missing or blank, a value has the
            wrong type, or a member is not a user reference.
    """
    if not isinstance(payload, Mapping):
        raise InvalidSyntax("a Group must be a JSON object")
    fields = attribute_names(payload)
    schemas = fields.get("schemas")
    if schemas is not None and not (
        isinstance(schemas, list) and all(isinstance(urn, str) for urn in schemas)
    ):
        raise InvalidValue("'schemas' must be an array of schema URNs")
    # RFC 7643 §3: `schemas` names the core Group schema; a body naming
    # others only (a User sent to /Groups) is no Group. Omitted, it asserts
    # nothing.
    if schemas and GROUP_URN.lower() not in {urn.lower() for urn in schemas}:
        raise InvalidSyntax(f"'schemas' must list '{GROUP_URN}'")

    return GroupBody(
        display_name=read_display_name(fields.get("displayname")),
        external_id=read_external_id(fields.get("externalid")),
        member_ids=tuple(read_members(fields.get("members"))),
    )


def attribute_names(members: Mapping[Any, Any]) -> dict[str, Any]:
    """Return the members of a JSON object keyed by lower-cased attribute name.

    RFC 7643 §2.1: names are case insensitive; RFC 7644 §3.10: they may be
    qualified by the core Group URN.
    """
    fields: dict[str, Any] = {}
    for key, value in members.items():
        name = str(key).lower()
        fields[name.removeprefix(_CORE_PREFIX)] = value
    return fields


def read_display_name(value: Any) -> str:
    """Return a `displayName`, which is required and must not be blank."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("'displayName' is required and must not be empty")
    if len(value) > MAX_DISPLAY_NAME:
        raise InvalidValue(f"'displayName' is over {MAX_DISPLAY_NAME} characters")
    return value


def read_external_id(value: Any) -> str | None:
    """Return an `externalId`; null and an empty string leave it unassigned."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidValue("'externalId' must be a string")
    if len(value) > MAX_EXTERNAL_ID:
        raise InvalidValue(f"'externalId' is over {MAX_EXTERNAL_ID} characters")
    return value


def read_members(value: Any) -> list[str]:
    """Return the member ids of a `members` value, in order and without repeats.

    A single member object stands for a list of one; null stands for none
    (RFC 7643 §2.5).
    """
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    ids: dict[str, None] = {}
    for item in items:
        ids.setdefault(_member_id(item), None)
    return list(ids)


def canonical_id(text: str) -> str:
    """Return an id in the form we issue ids, when it is one; else unchanged."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text


def stored_attributes(*, display_name: str, external_id: str | None) -> dict[str, Any]:
    """Return the SCIM attributes of a group as the service hands them out."""
    attributes: dict[str, Any] = {"schemas": [GROUP_URN], "displayName": display_name}
    if external_id is not None:
        attributes["externalId"] = external_id
    return attributes


def _member_id(item: Any) -> str:
    if not isinstance(item, Mapping):
        raise InvalidValue("each member must be a JSON object with a 'value'")
    fields = {str(key).lower(): member for key, member in item.items()}
    kind = fields.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.lower() != "user"):
        # Groups hold users only; a nested group would make roles recursive.
        raise InvalidValue(f"a member's type must be 'User', not {quoted(kind)}")
    value = fields.get("value")
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("each member needs a 'value' holding a user id")
    return canonical_id(value.strip())
