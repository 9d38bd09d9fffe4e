"""Schema documents an org registers to extend its Users (RFC 7643 §7).

A posted document is checked here, before scim2-models reads it, so that an
admin learns which attribute and which characteristic is wrong. What is
accepted is what the server enforces: characteristics it would not honour
(`returned: always` or `request`, `uniqueness: global`) are refused rather
than advertised.

A change to a registered document is compared with the one it replaces;
`breaking_changes` lists what could make stored values invalid, for the
service to check against the users that hold them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError
from scim2_models import Attribute, Context, Mutability, Returned, Schema, Uniqueness

from services.common.errors import InvalidValue
from services.identity.scim.schema import (
    ENTERPRISE_USER_URN,
    USER_SCHEMA,
    ResourceSchema,
    name_of,
    sub_attribute_of,
)

SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"
MAX_ATTRIBUTES = 100
MAX_CANONICAL_VALUES = 200
MAX_TEXT = 1024

# RFC 8141: "urn:", a namespace id, then a namespace-specific string. The last
# segment may not look empty, as "urn:x:" would end where a filter path splits.
_URN = re.compile(r"urn:[a-z0-9][a-z0-9-]{0,31}:[^\s:][^\s]*[^\s:]", re.IGNORECASE)
# RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar).
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}")
# URNs the org cannot take: the core schemas and the always-on extension.
_RESERVED_PREFIXES = (
    "urn:ietf:params:scim:schemas:core:",
    "urn:ietf:params:scim:api:",
    ENTERPRISE_USER_URN.lower(),
)

_TYPES = {kind.value: kind for kind in Attribute.Type}
_MUTABILITY = {kind.value: kind for kind in Mutability}
_SERVED_RETURNED = {"default": Returned.default, "never": Returned.never}
_SERVED_UNIQUENESS = {"none": Uniqueness.none, "server": Uniqueness.server}
_UNIQUE_TYPES = {"string", "integer", "decimal", "reference", "dateTime", "binary"}

# The characteristics of an attribute (RFC 7643 §7), by their lower-cased name.
_KEYS: Final = {
    key.lower(): key
    for key in (
        "name",
        "type",
        "multiValued",
        "description",
        "required",
        "canonicalValues",
        "caseExact",
        "mutability",
        "returned",
        "uniqueness",
        "referenceTypes",
        "subAttributes",
    )
}


def parse_schema_document(document: object) -> Schema:
    """Return the Schema a posted document declares, or raise `InvalidValue`.

    Characteristic names are matched ignoring case (RFC 7643 §2.1), and left
    out ones take the defaults of RFC 7643 §7.
    """
    if not isinstance(document, Mapping):
        raise InvalidValue("a schema must be a JSON object")
    members = {str(key).lower(): value for key, value in document.items()}
    urn = members.get("id")
    if not isinstance(urn, str) or not _URN.fullmatch(urn):
        raise InvalidValue("'id' must be the schema's URN, such as urn:acme:hr:User")
    if urn.lower().startswith(_RESERVED_PREFIXES):
        raise InvalidValue(f"'{urn}' is a URN this server defines itself")

    attributes = members.get("attributes")
    if not isinstance(attributes, list) or not attributes:
        raise InvalidValue("'attributes' must be a non-empty array")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidValue(f"a schema holds at most {MAX_ATTRIBUTES} attributes")
    normalized = {
        "id": urn,
        "name": _text(members.get("name"), where="name") or urn.rsplit(":", 1)[-1],
        "description": _text(members.get("description"), where="description"),
        "attributes": _attributes(attributes, where=urn, nested=False),
    }
    try:
        return Schema.model_validate(normalized)
    except ValidationError as error:
        raise InvalidValue(f"'{urn}' is not a valid schema: {error}") from None


def schema_document(schema: Schema) -> dict[str, Any]:
    """Return a Schema in its RFC 7643 §7 JSON form, without `meta`."""
    dumped: dict[str, Any] = schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    dumped.pop("meta", None)
    return dumped


def org_user_schema(
    extensions: Sequence[Schema], *, required: Sequence[str] = ()
) -> ResourceSchema:
    """Return the User resource type of an org: the built-in schemas and its own."""
    if not extensions:
        return USER_SCHEMA
    urns = frozenset(extension.id or "" for extension in extensions)
    return ResourceSchema(
        core=USER_SCHEMA.core,
        extensions=(*USER_SCHEMA.extensions, *extensions),
        checked_extensions=urns,
        required_extensions=frozenset(required),
    )


@dataclass(frozen=True, slots=True)
class BreakingChange:
    """A change to a schema that stored values may not survive."""

    keys: tuple[str, ...]
    """The attribute, and its sub-attribute when the change is to one."""

    what: str
    """Which characteristic changed, as a sentence fragment for the error."""

    attribute: Attribute | None = None
    """The new definition, when the attribute stays."""

    conservative: bool = False
    """Every held value counts as broken, not only the ones that break."""

    @property
    def path(self) -> str:
        """Return the dotted attribute path."""
        return ".".join(self.keys)


def breaking_changes(old: Schema, new: Schema) -> list[BreakingChange]:
    """List what in `new` could break values stored under `old`.

    RFC 7643 §7 lets attributes be added freely; removing one, or tightening
    its type, cardinality, requirement, canonical values, mutability or
    uniqueness, is a change that stored values must be checked against.
    """
    changes: list[BreakingChange] = []
    for before in old.attributes or ():
        name = name_of(before)
        after = next(
            (a for a in new.attributes or () if name_of(a).lower() == name.lower()),
            None,
        )
        if after is None:
            changes.append(BreakingChange(keys=(name,), what="is removed"))
            continue
        changes += _tightened(before, after, keys=(name,))
        if before.type == Attribute.Type.complex == after.type:
            for sub_before in before.sub_attributes or ():
                sub_name = name_of(sub_before)
                sub_after = sub_attribute_of(after, sub_name)
                keys = (name, sub_name)
                if sub_after is None:
                    changes.append(BreakingChange(keys=keys, what="is removed"))
                    continue
                changes += _tightened(sub_before, sub_after, keys=keys)
    return changes


def _tightened(
    before: Attribute, after: Attribute, *, keys: tuple[str, ...]
) -> list[BreakingChange]:
    changes = []
    if before.type != after.type:
        changes.append(BreakingChange(keys, "changes type", after))
    if bool(before.multi_valued) != bool(after.multi_valued):
        changes.append(BreakingChange(keys, "changes multiValued", after))
    if not before.required and after.required:
        changes.append(BreakingChange(keys, "becomes required", after))
    if _narrowed(before.canonical_values, after.canonical_values):
        changes.append(BreakingChange(keys, "narrows canonicalValues", after))
    if after.mutability in (Mutability.read_only, Mutability.write_only) and (
        before.mutability != after.mutability
    ):
        changes.append(BreakingChange(keys, f"becomes {after.mutability.value}", after))
    if after.uniqueness == Uniqueness.server and (
        before.uniqueness != Uniqueness.server
        or bool(before.case_exact) != bool(after.case_exact)
    ):
        changes.append(BreakingChange(keys, "becomes unique", after))
    # A sub-attribute's change is checked on every value of its parent, which
    # SQL over nested arrays would make long: any held value counts.
    if len(keys) > 1 or after.multi_valued:
        changes = [
            BreakingChange(c.keys, c.what, c.attribute, conservative=True)
            for c in changes
        ]
    return changes


def _narrowed(before: list[Any] | None, after: list[Any] | None) -> bool:
    if not after:
        return False
    if not before:
        return True
    return not {str(v).lower() for v in before} <= {str(v).lower() for v in after}


def _attributes(items: list[Any], *, where: str, nested: bool) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        attribute = _attribute(item, where=where, nested=nested)
        lowered = attribute["name"].lower()
        if lowered in seen:
            raise InvalidValue(f"'{where}:{attribute['name']}' is declared twice")
        seen.add(lowered)
        result.append(attribute)
    return result


def _attribute(item: object, *, where: str, nested: bool) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidValue(f"each attribute of '{where}' must be a JSON object")
    members: dict[str, Any] = {}
    for key, value in item.items():
        canonical = _KEYS.get(str(key).lower())
        if canonical is None:
            raise InvalidValue(f"'{key}' is not a characteristic of an attribute")
        members[canonical] = value

    name = members.get("name")
    if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
        raise InvalidValue(
            f"an attribute of '{where}' needs a 'name' of letters, digits, '-', '_'"
        )
    path = f"{where}:{name}" if not nested else f"{where}.{name}"
    kind = _choice(members.get("type"), _TYPES, path=path, what="type", default=None)
    attribute: dict[str, Any] = {
        "name": name,
        "type": kind,
        "multiValued": _flag(members, "multiValued", path=path),
        "description": _text(members.get("description"), where=f"{path} description"),
        "required": _flag(members, "required", path=path),
        "caseExact": _flag(members, "caseExact", path=path),
        # RFC 7643 §7: the defaults of characteristics left out.
        "mutability": _choice(
            members.get("mutability"),
            _MUTABILITY,
            path=path,
            what="mutability",
            default="readWrite",
        ),
        "returned": _choice(
            members.get("returned"),
            _SERVED_RETURNED,
            path=path,
            what="returned",
            default="default",
        ),
        "uniqueness": _choice(
            members.get("uniqueness"),
            _SERVED_UNIQUENESS,
            path=path,
            what="uniqueness",
            default="none",
        ),
    }
    _check_combination(attribute, path=path, nested=nested)

    canonical = members.get("canonicalValues")
    if canonical is not None:
        attribute["canonicalValues"] = _canonical(canonical, kind=kind, path=path)
    references = members.get("referenceTypes")
    if references is not None:
        if kind != "reference" or not _strings(references):
            raise InvalidValue(f"'{path}' referenceTypes need type reference")
        attribute["referenceTypes"] = references

    subs = members.get("subAttributes")
    if kind == "complex":
        # RFC 7643 §2.3.8: a complex attribute holds simple sub-attributes.
        if nested:
            raise InvalidValue(f"'{path}' cannot be complex inside a complex attribute")
        if not isinstance(subs, list) or not subs:
            raise InvalidValue(f"'{path}' is complex and needs subAttributes")
        attribute["subAttributes"] = _attributes(subs, where=path, nested=True)
    elif subs is not None:
        raise InvalidValue(f"'{path}' has subAttributes but is not complex")
    return attribute


def _check_combination(attribute: dict[str, Any], *, path: str, nested: bool) -> None:
    mutability = attribute["mutability"]
    if attribute["required"] and mutability in ("readOnly", "writeOnly"):
        # Nobody could ever give a readOnly one a value, and a writeOnly one
        # is never stored, so a stored user could never hold it.
        raise InvalidValue(f"'{path}' cannot be both required and {mutability}")
    if attribute["uniqueness"] == "server" and (
        nested or attribute["multiValued"] or attribute["type"] not in _UNIQUE_TYPES
    ):
        raise InvalidValue(
            f"'{path}': uniqueness server is served for single-valued, "
            "top-level attributes of a simple type other than boolean"
        )


def _canonical(values: object, *, kind: str, path: str) -> list[str]:
    if kind not in ("string", "reference"):
        raise InvalidValue(f"'{path}' canonicalValues need type string or reference")
    if not _strings(values) or not values:
        raise InvalidValue(f"'{path}' canonicalValues must be an array of strings")
    assert isinstance(values, list)
    if len(values) > MAX_CANONICAL_VALUES:
        raise InvalidValue(f"'{path}' holds at most {MAX_CANONICAL_VALUES} values")
    return [str(value) for value in values]


def _choice(
    value: object,
    choices: Mapping[str, Any],
    *,
    path: str,
    what: str,
    default: str | None,
) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or value not in choices:
        served = ", ".join(sorted(choices))
        raise InvalidValue(f"'{path}' {what} must be one of: {served}")
    return value


def _flag(members: Mapping[str, Any], key: str, *, path: str) -> bool:
    value = members.get(key, False)
    if not isinstance(value, bool):
        raise InvalidValue(f"'{path}' {key} must be true or false")
    return value


def _text(value: object, *, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidValue(f"'{where}' must be a string of at most {MAX_TEXT}")
    return value


def _strings(values: object) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in values
    )
