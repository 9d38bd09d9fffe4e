"""The stored form of a User, built from the body of a POST or a PUT.

Writes are checked against a `ResourceSchema` rather than the scim2-models
pydantic `User`: that model refuses addresses real IdPs send (its
`emails.value` is an `EmailStr`, and the special-use domains of test tenants
fail it), checks `profileUrl` and `photos` as strict URIs, turns a binary
value it cannot decode into an empty one instead of refusing it, and requires
`manager.$ref`, which Entra never sends. The stored form is a plain JSON
object, so the rules here work on one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from scim2_models import Attribute, Mutability, Returned

from services.common.errors import InvalidSyntax, InvalidValue
from services.common.errors import Mutability as MutabilityError
from services.identity.scim.schema import (
    USER_SCHEMA,
    ResourceSchema,
    Target,
    name_of,
    sub_attribute_of,
)


class _Unassigned:
    """The state RFC 7643 §2.5 gives null, an empty array and a missing attribute."""

    def __repr__(self) -> str:
        return "UNASSIGNED"


UNASSIGNED: Final = _Unassigned()

_BOOLEAN_STRINGS = {"true": True, "false": False}

# Looked up once: each access to an enum member through its class is a call.
_NOT_KEPT = (Mutability.read_only, Mutability.write_only)
_COMPLEX = Attribute.Type.complex
_BOOLEAN = Attribute.Type.boolean
_INTEGER = Attribute.Type.integer
_DECIMAL = Attribute.Type.decimal
_DATE_TIME = Attribute.Type.date_time
_BINARY = Attribute.Type.binary

# userName and externalId are kept in indexed columns too, and a PostgreSQL
# btree entry holds at most 2704 bytes: 512 characters of up to 4 bytes fit.
MAX_INDEXED_LENGTH = 512
_INDEXED_ATTRIBUTES = ("userName", "externalId")

# Far more emails, roles or addresses than any IdP sends; PATCH compares each
# value added with those held, so the bound also bounds that work.
MAX_VALUES = 100


def normalize_user(
    payload: object, *, schema: ResourceSchema = USER_SCHEMA
) -> dict[str, Any]:
    """Return the stored form of a User body sent with POST or PUT.

    Attribute names are mapped to their canonical spelling, values are checked
    against their type, read-only and write-only attributes are dropped, and
    `schemas` lists the core schema plus the extensions that hold data.

    Raises:
        InvalidSyntax: the body is not a JSON object, or its `schemas` does
            not list the core User schema.
        InvalidValue: a value has the wrong type, `userName` is missing or
            blank, or more than one value of an attribute is primary.
    """
    if not isinstance(payload, Mapping):
        raise InvalidSyntax("a User must be a JSON object")
    _check_schemas_value(payload, core_urn=schema.core_urn)

    resource: dict[str, Any] = {}
    for key, value in payload.items():
        if not isinstance(key, str) or key.lower() == "schemas":
            continue
        target = schema.resolve_name(key)
        # RFC 7644 §3.3: what the schema does not define is left out rather
        # than refused, as IdPs send attributes (`roles`, custom extensions)
        # an app never declared.
        if target is not None:
            refuse_read_only(target, schema=schema)
        if target is None or not is_writable(target):
            continue
        assign(resource, target=target, value=value, schema=schema)

    check_resource(resource, schema=schema)
    return {"schemas": schemas_for(resource, schema=schema), **resource}


def user_name(attributes: Mapping[str, Any]) -> str:
    """Return the `userName` of a stored User."""
    return str(attributes["userName"])


def external_id(attributes: Mapping[str, Any]) -> str | None:
    """Return the `externalId` of a stored User, or None when it has none."""
    value = attributes.get("externalId")
    return value if isinstance(value, str) else None


def is_active(attributes: Mapping[str, Any]) -> bool:
    """Tell whether a stored User is active; an unassigned `active` means it is."""
    return attributes.get("active", True) is not False


def with_lifecycle(attributes: Mapping[str, Any], *, active: bool) -> dict[str, Any]:
    """Return a stored User with `active` as its lifecycle state says.

    RFC 7643 §4.1.1 leaves the meaning of `active` to the service provider:
    ours is the lifecycle state, and an unassigned `active` (never sent, or
    removed by PATCH) means ACTIVE. It stays unassigned while that holds, so
    a client reads back what it set (RFC 7643 §2.5).
    """
    resource = dict(attributes)
    if "active" in resource or not active:
        resource["active"] = active
    return resource


def is_writable(target: Target) -> bool:
    """Tell whether a client's value for `target` is kept.

    RFC 7644 §3.3 and §3.5.1: read-only values sent by a client are ignored.
    Write-only ones (`password`) are accepted and never stored.
    """
    leaf = target.leaf
    return leaf is None or leaf.mutability not in _NOT_KEPT


def refuse_read_only(target: Target, *, schema: ResourceSchema) -> None:
    """Refuse a value for a readOnly attribute of an extension the org registered.

    RFC 7644 §3.3 lets a server ignore readOnly values; built-in attributes
    are ignored so, as IdPs send back `id`, `meta` and `groups`. An org's own
    readOnly attribute has no such history, and a client that writes one is
    told so (RFC 7644 §3.12 "mutability").
    """
    if target.extension not in schema.checked_extensions:
        return
    for attribute in (target.attribute, target.sub_attribute):
        if attribute is not None and attribute.mutability == Mutability.read_only:
            raise MutabilityError(f"'{target}' is readOnly and cannot be written")


def visible_attributes(
    attributes: Mapping[str, Any], *, schema: ResourceSchema
) -> dict[str, Any]:
    """Return a stored resource without its `returned: never` values (RFC 7643 §7)."""
    visible = dict(attributes)
    for urn in schema.checked_extensions:
        holder = visible.get(urn)
        if not isinstance(holder, dict):
            continue
        kept = {}
        for key, value in holder.items():
            attribute = schema.attribute(key, extension=urn)
            if attribute is not None and attribute.returned == Returned.never:
                continue
            if attribute is not None and attribute.sub_attributes:
                value = _without_hidden(attribute, value)
            kept[key] = value
        if kept:
            visible[urn] = kept
        else:
            visible.pop(urn)
    return visible


def _without_hidden(attribute: Attribute, value: Any) -> Any:
    hidden = {
        name_of(sub).lower()
        for sub in attribute.sub_attributes or ()
        if sub.returned == Returned.never
    }
    if not hidden:
        return value

    def strip(item: Any) -> Any:
        if not isinstance(item, Mapping):
            return item
        return {k: v for k, v in item.items() if k.lower() not in hidden}

    return [strip(item) for item in value] if isinstance(value, list) else strip(value)


def assign(
    resource: dict[str, Any], *, target: Target, value: Any, schema: ResourceSchema
) -> None:
    """Set the value at `target` in a stored resource, checked against its type.

    A whole extension object is merged key by key, as a complex attribute.
    """
    if target.attribute is None:
        extension = target.extension or ""
        if value is None:
            resource.pop(extension, None)
            return
        if not isinstance(value, Mapping):
            raise InvalidValue(f"'{extension}' must be a JSON object")
        holder = resource.setdefault(extension, {})
        for key, item in value.items():
            inner = schema.resolve_name(str(key), extension=extension)
            if inner is not None:
                refuse_read_only(inner, schema=schema)
            if inner is not None and is_writable(inner):
                assign(resource, target=inner, value=item, schema=schema)
        if not holder:
            resource.pop(extension, None)
        return

    holder = container(resource, extension=target.extension, create=True)
    name = name_of(target.attribute)
    if target.sub_attribute is not None:
        if target.attribute.multi_valued:
            raise InvalidValue(f"'{target}' names a sub-attribute of many values")
        parent = holder.get(name)
        parent = dict(parent) if isinstance(parent, dict) else {}
        sub_value = coerce(target.sub_attribute, value, where=str(target))
        _set(parent, name_of(target.sub_attribute), sub_value)
        _set(holder, name, parent or UNASSIGNED)
    else:
        _set(holder, name, coerce(target.attribute, value, where=str(target)))
    if target.extension is not None and not holder:
        resource.pop(target.extension, None)


def container(
    resource: dict[str, Any], *, extension: str | None, create: bool
) -> dict[str, Any]:
    """Return the object holding the attributes of the core (None) or an extension."""
    if extension is None:
        return resource
    holder = resource.get(extension)
    if not isinstance(holder, dict):
        holder = {}
        if create:
            resource[extension] = holder
    return holder


def coerce(attribute: Attribute, value: Any, *, where: str) -> Any:
    """Return `value` in the stored form of `attribute`, or UNASSIGNED.

    RFC 7643 §2.5: null and an empty array leave the attribute unassigned.
    """
    if value is None:
        return UNASSIGNED
    if not attribute.multi_valued:
        return coerce_item(attribute, value, where=where)

    if not isinstance(value, list):
        raise InvalidValue(f"'{where}' holds many values and must be an array")
    if len(value) > MAX_VALUES:
        raise InvalidValue(f"'{where}' holds at most {MAX_VALUES} values")
    items = [coerce_item(attribute, item, where=where) for item in value]
    kept = [item for item in items if item is not UNASSIGNED]
    return kept or UNASSIGNED


def coerce_item(attribute: Attribute, value: Any, *, where: str) -> Any:
    """Return one value of `attribute` in its stored form, or UNASSIGNED.

    For a multi-valued attribute, this is one of its values.
    """
    if value is None:
        return UNASSIGNED
    kind = attribute.type
    if kind == _COMPLEX:
        return _coerce_complex(attribute, value, where=where)
    if kind == _BOOLEAN:
        # Entra sends booleans as the strings "True" and "False".
        if isinstance(value, str) and value.lower() in _BOOLEAN_STRINGS:
            return _BOOLEAN_STRINGS[value.lower()]
        if isinstance(value, bool):
            return value
        raise InvalidValue(f"'{where}' must be a boolean")
    if kind == _INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InvalidValue(f"'{where}' must be an integer")
    if kind == _DECIMAL:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise InvalidValue(f"'{where}' must be a number")
    if not isinstance(value, str):
        raise InvalidValue(f"'{where}' must be a string")
    if kind == _DATE_TIME and parse_datetime(value) is None:
        raise InvalidValue(f"'{where}' must be an xsd:dateTime, as RFC 7643 §2.3.5")
    if kind == _BINARY:
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            raise InvalidValue(
                f"'{where}' must be base64, as RFC 7643 §2.3.6"
            ) from None
    return value


def check_resource(resource: Mapping[str, Any], *, schema: ResourceSchema) -> None:
    """Check what only the whole resource can tell: required values, sizes, primary."""
    for name in _INDEXED_ATTRIBUTES:
        value = resource.get(name)
        if isinstance(value, str) and len(value) > MAX_INDEXED_LENGTH:
            raise InvalidValue(
                f"'{name}' must be at most {MAX_INDEXED_LENGTH} characters"
            )

    for urn in sorted(schema.required_extensions):
        # RFC 7643 §6: a required extension is part of every resource.
        if not resource.get(urn):
            raise InvalidValue(f"'{urn}' is required and must not be empty")

    scopes: list[str | None] = [None]
    scopes += [urn for urn in schema.extension_urns if urn in resource]
    for scope in scopes:
        holder = resource if scope is None else resource[scope]
        checked = scope in schema.checked_extensions
        for rule in schema.attribute_rules(extension=scope):
            name = rule.name
            value = holder.get(name)
            if rule.required and (
                value is None or (isinstance(value, str) and not value.strip())
            ):
                raise InvalidValue(f"'{rule.where}' is required and must not be empty")
            if checked and value is not None:
                _check_declared(rule.attribute, value, where=rule.where)
            if not isinstance(value, list):
                continue
            # A PATCH add can grow a list that each operation kept in bounds.
            if len(value) > MAX_VALUES:
                raise InvalidValue(f"'{name}' holds at most {MAX_VALUES} values")
            # RFC 7643 §2.4: "primary" is true for at most one value.
            if sum(_is_primary(i) for i in value) > 1:
                raise InvalidValue(f"more than one value of '{name}' is primary")


def _check_declared(attribute: Attribute, value: Any, *, where: str) -> None:
    """Check what an org's schema declares beyond types: canonical, required subs."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            for sub in attribute.sub_attributes or ():
                name = name_of(sub)
                held = item.get(name)
                if sub.required and held is None:
                    raise InvalidValue(f"'{where}.{name}' is required")
                if held is not None:
                    _check_declared(sub, held, where=f"{where}.{name}")
        elif attribute.canonical_values and isinstance(item, str):
            _check_canonical(attribute, item, where=where)


def _check_canonical(attribute: Attribute, value: str, *, where: str) -> None:
    # RFC 7643 §7 calls canonicalValues suggested; an org that declares them
    # for its own attribute is held to them, exactly or ignoring case.
    allowed = [str(v) for v in attribute.canonical_values or ()]
    if attribute.case_exact:
        matched = value in allowed
    else:
        matched = value.lower() in {v.lower() for v in allowed}
    if not matched:
        raise InvalidValue(f"'{where}' must be one of: {', '.join(allowed)}")


def schemas_for(resource: Mapping[str, Any], *, schema: ResourceSchema) -> list[str]:
    """Return `schemas` of a stored resource: the core and the extensions in use."""
    present = [urn for urn in schema.extension_urns if resource.get(urn)]
    return [schema.core_urn, *present]


def parse_datetime(text: str) -> datetime | None:
    """Return an xsd:dateTime string as an aware datetime, or None if it is none.

    A dateTime without an offset is read as UTC. One whose offset carries it
    out of the years 1 to 9999 in UTC is none either: neither Python nor the
    database driver can convert it.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment


def _check_schemas_value(payload: Mapping[str, Any], *, core_urn: str) -> None:
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == "schemas":
            if not isinstance(value, list) or not all(
                isinstance(urn, str) for urn in value
            ):
                raise InvalidValue("'schemas' must be an array of schema URNs")
            # RFC 7643 §3: `schemas` names the resource's core schema. A body
            # that names others only (a Group sent to /Users) is another
            # resource; one without `schemas` asserts nothing and is read.
            if value and core_urn.lower() not in {urn.lower() for urn in value}:
                raise InvalidSyntax(f"'schemas' must list '{core_urn}'")


def _coerce_complex(attribute: Attribute, value: Any, *, where: str) -> Any:
    if not isinstance(value, Mapping):
        # Entra sends a manager as the bare id: it stands for its "value".
        if sub_attribute_of(attribute, "value") is None:
            raise InvalidValue(f"'{where}' must be a JSON object")
        value = {"value": value}

    result: dict[str, Any] = {}
    for key, item in value.items():
        sub_attribute = (
            sub_attribute_of(attribute, key) if isinstance(key, str) else None
        )
        if sub_attribute is None or sub_attribute.mutability in _NOT_KEPT:
            continue
        name = name_of(sub_attribute)
        _set(result, name, coerce(sub_attribute, item, where=f"{where}.{name}"))
    return result or UNASSIGNED


def _set(holder: dict[str, Any], name: str, value: Any) -> None:
    if value is UNASSIGNED:
        holder.pop(name, None)
    else:
        holder[name] = value


def _is_primary(item: Any) -> bool:
    return isinstance(item, Mapping) and item.get("primary") is True
