"""PATCH of a stored User (RFC 7644 §3.5.2), in the dialects Okta and Entra send.

Paths are parsed by scim2-models (see `paths.py`). Its `PatchOp` applies
operations to pydantic resources, which would round-trip the stored JSON
through the model `resource.py` explains we cannot use, so the operations are
applied here, on the stored form, against the same `ResourceSchema`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scim2_models import Mutability

from services.common.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    NoTarget,
    quoted,
)
from services.common.errors import Mutability as MutabilityError
from services.identity.scim.matching import (
    described_value,
    holds,
    index_of_same,
    merged,
    selected_indexes,
)
from services.identity.scim.paths import PatchPath, parse_patch_path
from services.identity.scim.resource import (
    UNASSIGNED,
    assign,
    coerce,
    coerce_item,
    container,
    is_writable,
    normalize_user,
)
from services.identity.scim.schema import (
    USER_SCHEMA,
    ResourceSchema,
    Target,
    is_complex,
    name_of,
)

PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_OPS = ("add", "remove", "replace")

# RFC 7644 §3.5.2 sets no bound. Each value added or removed is compared with
# the values an attribute holds (at most `MAX_VALUES`), so bounding what one
# PatchOp carries bounds its work; a full update of a rich user is far below.
MAX_PATCH_SCALARS = 1000


@dataclass(frozen=True, slots=True)
class _Operation:
    op: str
    path: str | None
    value: Any


def apply_patch(
    resource: Mapping[str, Any],
    patch_body: object,
    *,
    schema: ResourceSchema = USER_SCHEMA,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """Return the stored form of a User after a PatchOp; `resource` is left as it was.

    The operations apply in order and as a whole: any failure raises and
    nothing is applied. Applying the same PatchOp twice gives an equal result.
    `resource_id` lets a path-less value repeat the resource's own `id`.

    Raises:
        InvalidSyntax: the body is no PatchOp.
        InvalidPath: a path is malformed or names no attribute.
        InvalidValue: a value does not fit its attribute, or the result is no
            valid User.
        NoTarget: a remove has no path, or a filter matches nothing to write.
        Mutability: an operation would change a read-only attribute.
    """
    operations = _read_operations(patch_body)
    patched = copy.deepcopy(dict(resource))
    patcher = _Patcher(patched, schema=schema, resource_id=resource_id)
    for operation in operations:
        patcher.apply(operation)
    return normalize_user(patched, schema=schema)


def _read_operations(body: object) -> list[_Operation]:
    if not isinstance(body, Mapping):
        raise InvalidSyntax("a PATCH body must be a JSON object")
    members = _lower_keys(body)

    # RFC 7644 §3.5.2: the body names the PatchOp schema and holds Operations.
    schemas = members.get("schemas")
    if not isinstance(schemas, list) or PATCH_OP_URN.lower() not in {
        urn.lower() for urn in schemas if isinstance(urn, str)
    }:
        raise InvalidSyntax(f"a PATCH body must list '{PATCH_OP_URN}' in schemas")
    raw_operations = members.get("operations")
    if not isinstance(raw_operations, list) or not raw_operations:
        raise InvalidSyntax("'Operations' must be a non-empty array")

    operations: list[_Operation] = []
    for raw in raw_operations:
        if not isinstance(raw, Mapping):
            raise InvalidSyntax("each PATCH operation must be a JSON object")
        fields = _lower_keys(raw)
        # Entra sends "Add", "Replace" and "Remove".
        op = fields.get("op")
        if not isinstance(op, str) or op.lower() not in _OPS:
            raise InvalidSyntax(
                f"'op' must be add, remove or replace, not {quoted(op)}"
            )
        path = fields.get("path")
        if path is not None and not isinstance(path, str):
            raise InvalidSyntax("'path' must be a string")
        operations.append(_Operation(op.lower(), path or None, fields.get("value")))

    if sum(_scalars(operation.value) for operation in operations) > MAX_PATCH_SCALARS:
        raise InvalidValue(
            f"a PatchOp carries at most {MAX_PATCH_SCALARS} values in all its "
            "operations; send the changes in several requests"
        )
    return operations


def _scalars(value: Any) -> int:
    """Count the strings, numbers, booleans and nulls in a JSON value (at least 1)."""
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        else:
            count += 1
    return max(count, 1)


def _lower_keys(members: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in members.items()}


class _Patcher:
    """Apply operations, in place, to a copy of a stored resource."""

    def __init__(
        self,
        resource: dict[str, Any],
        *,
        schema: ResourceSchema,
        resource_id: str | None,
    ) -> None:
        self._resource = resource
        self._schema = schema
        self._resource_id = resource_id

    def apply(self, operation: _Operation) -> None:
        """Apply one operation."""
        if operation.path is None:
            if operation.op == "remove":
                # RFC 7644 §3.5.2.2: a remove without a path is noTarget.
                raise NoTarget("a remove operation needs a path")
            self._apply_pathless(operation)
            return

        location = parse_patch_path(operation.path, schema=self._schema)
        if not self._allowed(location.target, path=operation.path):
            return
        self._dispatch(operation.op, location, operation.value)

    def _apply_pathless(self, operation: _Operation) -> None:
        # RFC 7644 §3.5.2.1 and §3.5.2.3: without a path, the value is an
        # object whose members are the attributes to write. Okta deactivates
        # with {"active": false}; Entra sends keys such as "name.givenName" or
        # "urn:...:enterprise:2.0:User:department".
        if not isinstance(operation.value, Mapping):
            raise InvalidValue(f"a path-less {operation.op} needs an object value")
        for key, value in operation.value.items():
            target = self._schema.resolve_name(str(key))
            if target is None:
                self._apply_keyed_filter(operation.op, str(key), value)
            elif not self._skipped_in_value(target, value) and self._allowed(
                target, path=str(key)
            ):
                self._dispatch(operation.op, PatchPath(target), value)

    def _apply_keyed_filter(self, op: str, key: str, value: Any) -> None:
        # Entra also keys a path-less value by a value path, as in
        # {"emails[type eq \"work\"].value": "..."}: the key is then the path
        # of the write. Any other key the schema does not define is left out
        # (RFC 7644 §3.3); a filter the IdP meant to write through is not.
        if "[" not in key:
            return
        location = parse_patch_path(key, schema=self._schema)
        if self._allowed(location.target, path=key):
            self._dispatch(op, location, value)

    def _skipped_in_value(self, target: Target, value: Any) -> bool:
        if target.extension is not None or target.attribute is None:
            return False
        name = name_of(target.attribute)
        if name == "id":
            # Repeating the resource's own id changes nothing.
            if self._resource_id is not None and value == self._resource_id:
                return True
            raise MutabilityError("'id' is readOnly and cannot be changed")
        # RFC 7643 §3.1: "meta" sent by a client is ignored; "schemas" is
        # rebuilt from the attributes present.
        return name in ("meta", "schemas")

    def _allowed(self, target: Target, *, path: str) -> bool:
        # RFC 7644 §3.5.2: an operation must suit the attribute's mutability.
        for attribute in (target.attribute, target.sub_attribute):
            if attribute is not None and attribute.mutability == Mutability.read_only:
                raise MutabilityError(f"'{path}' is readOnly and cannot be changed")
        # A write-only value (password) is accepted and never stored.
        return is_writable(target)

    def _dispatch(self, op: str, location: PatchPath, value: Any) -> None:
        if op == "remove" or (op == "replace" and value is None):
            # RFC 7643 §2.5: replacing with null leaves the attribute unassigned.
            self._remove(location, value if op == "remove" else None)
        elif value is None:
            raise InvalidValue(f"an {op} operation needs a value")
        else:
            self._write(location, value, replace=op == "replace")

    def _write(self, location: PatchPath, value: Any, *, replace: bool) -> None:
        target = location.target
        if location.selects:
            self._write_selected(location, value)
            return

        attribute = target.attribute
        if attribute is None:
            extension = target.extension or ""
            if not isinstance(value, Mapping):
                raise InvalidValue(f"'{extension}' must be a JSON object")
            for key, item in value.items():
                inner = self._schema.resolve_name(str(key), extension=extension)
                if inner is not None and self._allowed(inner, path=str(key)):
                    self._dispatch(
                        "replace" if replace else "add", PatchPath(inner), item
                    )
            return

        if attribute.multi_valued and not replace:
            self._add_values(target, value)
        elif is_complex(attribute) and not (
            attribute.multi_valued or target.sub_attribute
        ):
            # RFC 7644 §3.5.2.1 and §3.5.2.3: the sub-attributes given are
            # written, the others are left unchanged.
            self._check_immutable(target, value)
            merged = coerce(attribute, value, where=str(target))
            holder = container(self._resource, extension=target.extension, create=True)
            current = holder.get(name_of(attribute))
            base = current if isinstance(current, dict) else {}
            if merged is not UNASSIGNED:
                holder[name_of(attribute)] = {**base, **merged}
        else:
            # RFC 7644 §3.5.2.3: replacing a multi-valued attribute without a
            # filter replaces all of its values.
            self._check_immutable(target, value)
            assign(self._resource, target=target, value=value, schema=self._schema)

    def _add_values(self, target: Target, value: Any) -> None:
        attribute = target.attribute
        assert attribute is not None
        items = coerce(
            attribute, value if isinstance(value, list) else [value], where=str(target)
        )
        if items is UNASSIGNED:
            return
        holder = container(self._resource, extension=target.extension, create=True)
        name = name_of(attribute)
        current = list(holder.get(name) or [])
        written: set[int] = set()
        for item in items:
            # RFC 7644 §3.5.2.1: a value already there is not added again.
            index = index_of_same(current, item, attribute=attribute)
            if index is None:
                current.append(item)
                written.add(len(current) - 1)
            else:
                current[index] = merged(current[index], item, attribute=attribute)
                written.add(index)
        holder[name] = _settle_primary(current, written)

    def _write_selected(self, location: PatchPath, value: Any) -> None:
        target = location.target
        attribute = target.attribute
        assert attribute is not None
        holder = container(self._resource, extension=target.extension, create=True)
        name = name_of(attribute)
        current = list(holder.get(name) or [])
        indexes = self._selected(current, location)

        if not indexes:
            described = (
                described_value(location.val_filter, attribute=attribute)
                if location.val_filter is not None
                else None
            )
            if described is None:
                # RFC 7644 §3.5.2.3: a filter matching no value is noTarget.
                raise NoTarget(f"no value of '{name}' matches the path's filter")
            # Entra writes emails[type eq "work"].value on users that have no
            # work email and expects one: the value the filter describes.
            current.append(described)
            indexes = [len(current) - 1]

        for index in indexes:
            current[index] = self._written_value(target, current[index], value)
        settled = _settle_primary(current, set(indexes))
        _store(holder, name, [item for item in settled if item not in ({}, None)])

    def _written_value(self, target: Target, held: Any, value: Any) -> Any:
        attribute, sub_attribute = target.attribute, target.sub_attribute
        assert attribute is not None
        if not is_complex(attribute):
            return coerce_item(attribute, value, where=str(target))
        element = dict(held) if isinstance(held, Mapping) else {}
        if sub_attribute is None:
            if not isinstance(value, Mapping):
                raise InvalidValue(f"a value of '{target}' must be a JSON object")
            written = coerce_item(attribute, value, where=str(target))
            return {**element, **(written if written is not UNASSIGNED else {})}

        sub_name = name_of(sub_attribute)
        written = coerce(sub_attribute, value, where=str(target))
        if (
            sub_attribute.mutability == Mutability.immutable
            and element.get(sub_name) is not None
            and element.get(sub_name) != written
        ):
            raise MutabilityError(f"'{target}' is immutable once assigned")
        if written is UNASSIGNED:
            element.pop(sub_name, None)
        else:
            element[sub_name] = written
        return element

    def _remove(self, location: PatchPath, value: Any) -> None:
        target = location.target
        attribute = target.attribute
        if attribute is None:
            self._resource.pop(target.extension or "", None)
            return

        self._check_immutable(target, None)
        holder = container(self._resource, extension=target.extension, create=False)
        name = name_of(attribute)
        if location.selects:
            current = list(holder.get(name) or [])
            indexes = set(self._selected(current, location))
            if target.sub_attribute is None:
                kept = [item for i, item in enumerate(current) if i not in indexes]
            else:
                sub_name = name_of(target.sub_attribute)
                kept = [
                    _without(item, sub_name) if i in indexes else item
                    for i, item in enumerate(current)
                ]
            _store(holder, name, [item for item in kept if item not in ({}, None)])
        elif attribute.multi_valued and value not in (None, UNASSIGNED):
            # Entra removes members with a value array rather than a filter.
            self._remove_values(target, value)
        elif target.sub_attribute is not None:
            parent = holder.get(name)
            if isinstance(parent, dict):
                _store(holder, name, _without(parent, name_of(target.sub_attribute)))
        else:
            holder.pop(name, None)
        if target.extension is not None and not holder:
            self._resource.pop(target.extension, None)

    def _remove_values(self, target: Target, value: Any) -> None:
        attribute = target.attribute
        assert attribute is not None
        items = coerce(
            attribute, value if isinstance(value, list) else [value], where=str(target)
        )
        holder = container(self._resource, extension=target.extension, create=False)
        name = name_of(attribute)
        current = list(holder.get(name) or [])
        for item in [] if items is UNASSIGNED else items:
            current = [
                held for held in current if not holds(held, item, attribute=attribute)
            ]
        _store(holder, name, current)

    def _selected(self, current: list[Any], location: PatchPath) -> list[int]:
        attribute = location.target.attribute
        assert attribute is not None
        return selected_indexes(
            current, location.val_filter, attribute=attribute, error=InvalidPath
        )

    def _check_immutable(self, target: Target, value: Any) -> None:
        attribute = target.leaf
        if attribute is None or attribute.mutability != Mutability.immutable:
            return
        holder = container(self._resource, extension=target.extension, create=False)
        held = holder.get(name_of(target.attribute)) if target.attribute else None
        if target.sub_attribute is not None and isinstance(held, dict):
            held = held.get(name_of(target.sub_attribute))
        # RFC 7643 §2.2: an immutable attribute may be set once, when it has
        # no value yet.
        if held is not None and held != coerce(attribute, value, where=str(target)):
            raise MutabilityError(f"'{target}' is immutable once assigned")


def _settle_primary(values: list[Any], written: set[int]) -> list[Any]:
    """Clear "primary" on the values that were not just written primary.

    RFC 7644 §3.5.2: setting one value primary sets the others to false.
    """
    if not any(_primary(values[index]) for index in written):
        return values
    return [
        {**item, "primary": False} if index not in written and _primary(item) else item
        for index, item in enumerate(values)
    ]


def _primary(item: Any) -> bool:
    return isinstance(item, Mapping) and item.get("primary") is True


def _without(item: Any, key: str) -> Any:
    if not isinstance(item, dict):
        return item
    return {name: value for name, value in item.items() if name != key}


def _store(holder: dict[str, Any], name: str, value: Any) -> None:
    if value in ([], {}, None):
        holder.pop(name, None)
    else:
        holder[name] = value
