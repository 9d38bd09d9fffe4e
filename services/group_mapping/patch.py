"""PATCH of a Group (RFC 7644 §3.5.2), in every form Okta and Entra send.

A PatchOp becomes a plan: the writes to `displayName` and `externalId`, and
the changes of members as set operations, each done in SQL on the membership
rows. A group of 50,000 members is never loaded to add or remove one.

Forms met in the wild, all read here:

- add members with a list, items with or without `type`, with `display` or
  `"$ref": null` (Okta, Entra);
- remove with `members[value eq "id"]` (Okta, Entra's compliant dialect);
- remove with a `value` list, removing only those (Entra's default dialect);
- replace members with a list, `[]` emptying the group (Okta);
- path-less replace of `displayName`, repeating the group's own `id` (Okta);
- capitalised ops (Entra) and several operations in one request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scim2_models import InvalidPathException, Path
from scim2_models.path import AttrPath, ValuePath

from services.common.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    NoTarget,
    quoted,
)
from services.common.errors import Mutability as MutabilityError
from services.group_mapping.member_filter import Predicate, compile_member_filter
from services.group_mapping.resource import (
    GROUP_URN,
    attribute_names,
    canonical_id,
    read_display_name,
    read_external_id,
    read_members,
)

PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_OPS = ("add", "remove", "replace")
MAX_PATH_LENGTH = 1024
_READ_ONLY = frozenset({"id", "meta"})


@dataclass(frozen=True, slots=True)
class AddMembers:
    """Add these users; the ones already members stay as they are."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemoveMembers:
    """Remove these users; the others stay."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemoveMatching:
    """Remove the members a filter selects, or every member without one."""

    condition: Predicate | None


@dataclass(frozen=True, slots=True)
class ReplaceMembers:
    """Make these users the members, and only them."""

    ids: tuple[str, ...]


MemberStep = AddMembers | RemoveMembers | RemoveMatching | ReplaceMembers


@dataclass(frozen=True, slots=True)
class Attributes:
    """The attributes of a group other than its members."""

    display_name: str
    external_id: str | None


@dataclass(frozen=True, slots=True)
class GroupPatch:
    """What a PatchOp does to a group, in the order it does it."""

    writes: tuple[tuple[str, str | None], ...]
    """Writes of `displayName` and `externalId`: (attribute, new value)."""

    member_steps: tuple[MemberStep, ...]

    def apply_to(self, attributes: Attributes) -> Attributes:
        """Return the attributes after the writes."""
        display_name, external_id = attributes.display_name, attributes.external_id
        for name, value in self.writes:
            if name == "displayName":
                display_name = read_display_name(value)
            else:
                external_id = value
        return Attributes(display_name=display_name, external_id=external_id)

    @property
    def added_ids(self) -> list[str]:
        """Return every id the plan may make a member, without repeats."""
        ids: dict[str, None] = {}
        for step in self.member_steps:
            if isinstance(step, AddMembers | ReplaceMembers):
                ids.update(dict.fromkeys(step.ids))
        return list(ids)


def read_patch(body: object, *, group_id: str) -> GroupPatch:
    """Read a PatchOp aimed at group `group_id` into a plan.

    Raises:
        InvalidSyntax: the body is no PatchOp.
        InvalidPath: a path does not parse or names nothing a group has.
        InvalidValue: a value does not fit its attribute.
        NoTarget: a remove has no path.
        Mutability: an operation would change `id`, `meta` or a member's
            own sub-attributes.
    """
    reader = _PatchReader(group_id=group_id)
    for op, path, value in _operations(body):
        reader.read(op, path, value)
    return GroupPatch(writes=tuple(reader.writes), member_steps=tuple(reader.steps))


def _operations(body: object) -> list[tuple[str, str | None, Any]]:
    if not isinstance(body, Mapping):
        raise InvalidSyntax("a PATCH body must be a JSON object")
    fields = {str(key).lower(): value for key, value in body.items()}

    # RFC 7644 §3.5.2: the body names the PatchOp schema and holds Operations.
    schemas = fields.get("schemas")
    if not isinstance(schemas, list) or PATCH_OP_URN.lower() not in {
        urn.lower() for urn in schemas if isinstance(urn, str)
    }:
        raise InvalidSyntax(f"a PATCH body must list '{PATCH_OP_URN}' in schemas")
    raw_operations = fields.get("operations")
    if not isinstance(raw_operations, list) or not raw_operations:
        raise InvalidSyntax("'Operations' must be a non-empty array")

    operations: list[tuple[str, str | None, Any]] = []
    for raw in raw_operations:
        if not isinstance(raw, Mapping):
            raise InvalidSyntax("each PATCH operation must be a JSON object")
        operation = {str(key).lower(): value for key, value in raw.items()}
        # Entra sends "Add", "Replace" and "Remove".
        op = operation.get("op")
        if not isinstance(op, str) or op.lower() not in _OPS:
            raise InvalidSyntax(
                f"'op' must be add, remove or replace, not {quoted(op)}"
            )
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise InvalidSyntax("'path' must be a string")
        operations.append((op.lower(), path or None, operation.get("value")))
    return operations


class _PatchReader:
    """Turn operations into writes and member steps, checking each one."""

    def __init__(self, *, group_id: str) -> None:
        self._group_id = group_id
        self.writes: list[tuple[str, str | None]] = []
        self.steps: list[MemberStep] = []

    def read(self, op: str, path: str | None, value: Any) -> None:
        if path is None:
            self._read_pathless(op, value)
            return
        if len(path) > MAX_PATH_LENGTH:
            raise InvalidPath(f"a path is at most {MAX_PATH_LENGTH} characters")
        try:
            node = Path(path).ast
        except InvalidPathException as error:
            raise InvalidPath(f"'{path}' is no valid path: {error.detail}") from None

        if isinstance(node, ValuePath):
            self._read_member_filter(op, node, path=path)
        elif isinstance(node, AttrPath):
            name = _attribute(node, path=path)
            if node.sub_attr is not None and name not in _READ_ONLY:
                self._refuse_sub_attribute(name, path=path)
            self._read_attribute(op, name, value)
        else:
            raise InvalidPath(f"'{path}' does not name an attribute to patch")

    def _read_pathless(self, op: str, value: Any) -> None:
        if op == "remove":
            # RFC 7644 §3.5.2.2: a remove without a path is noTarget.
            raise NoTarget("a remove operation needs a path")
        # RFC 7644 §3.5.2.1 and §3.5.2.3: the value's members are the
        # attributes to write. Okta renames with {"id": ..., "displayName": ...}.
        if not isinstance(value, Mapping):
            raise InvalidValue(f"a path-less {op} needs an object value")
        for name, item in attribute_names(value).items():
            if name == "id":
                if canonical_id(str(item)) != self._group_id:
                    raise MutabilityError("'id' is readOnly and cannot be changed")
            elif name in ("displayname", "externalid", "members"):
                self._read_attribute(op, name, item)
            # RFC 7643 §3.1: "meta" and "schemas" sent by a client are ignored,
            # and so are attributes a group does not have (RFC 7644 §3.3).

    def _read_attribute(self, op: str, name: str, value: Any) -> None:
        if name in _READ_ONLY:
            raise MutabilityError(f"'{name}' is readOnly and cannot be changed")
        if name == "schemas":
            raise MutabilityError("'schemas' is the server's to keep")
        if name == "members":
            self.steps.append(_member_step(op, value))
        elif name == "displayname":
            if op == "remove" or value is None:
                raise InvalidValue("'displayName' is required and must not be empty")
            self.writes.append(("displayName", read_display_name(value)))
        else:
            # RFC 7643 §2.5: replacing with null leaves it unassigned.
            kept = None if op == "remove" else read_external_id(value)
            self.writes.append(("externalId", kept))

    def _read_member_filter(self, op: str, node: ValuePath, *, path: str) -> None:
        if _attribute(node.attr_path, path=path) != "members":
            raise InvalidPath(f"'{path}' filters an attribute of a single value")
        if node.sub_attr is not None:
            self._refuse_sub_attribute("members", path=path)
        condition = compile_member_filter(node.val_filter)
        if op != "remove":
            # Members are users; a filter can pick which to remove, but an
            # add or a replace names the users themselves.
            raise InvalidPath(f"'{op}' takes 'members' and a list, not '{path}'")
        self.steps.append(RemoveMatching(condition))

    @staticmethod
    def _refuse_sub_attribute(name: str, *, path: str) -> None:
        if name == "members":
            # value, type and $ref are immutable (RFC 7643 §8.7.1); display is
            # the server's.
            raise MutabilityError(f"'{path}' cannot be changed; replace the member")
        raise InvalidPath(f"'{path}' names no sub-attribute of a Group")


def _member_step(op: str, value: Any) -> MemberStep:
    if op == "add":
        if value is None:
            raise InvalidValue("an add operation needs a value")
        return AddMembers(tuple(read_members(value)))
    if op == "replace":
        return ReplaceMembers(tuple(read_members(value)))
    if value is None:
        # RFC 7644 §3.5.2.2: removing "members" without a filter removes all.
        return RemoveMatching(None)
    # Entra removes members with a value array rather than a filter; only
    # those go, and an empty array removes none.
    return RemoveMembers(tuple(read_members(value)))


def _attribute(attr_path: AttrPath, *, path: str) -> str:
    if attr_path.uri is not None and attr_path.uri.lower() != GROUP_URN.lower():
        raise InvalidPath(f"'{path}' names no attribute of a Group")
    name = attr_path.attr.lower()
    if name not in {"displayname", "externalid", "members", "schemas", *_READ_ONLY}:
        raise InvalidPath(f"'{path}' names no attribute of a Group")
    return name
