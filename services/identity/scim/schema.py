"""The schemas a resource is checked against, and how attribute names bind to them.

Schema definitions are scim2-models `Schema` and `Attribute` objects, the
RFC 7643 §7 representation, so a schema an org declares later can be read from
its JSON and passed in next to the built-in ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from scim2_models import (
    Attribute,
    CaseExact,
    EnterpriseUser,
    InvalidPathException,
    Mutability,
    Path,
    Schema,
    User,
)
from scim2_models.path import AttrPath

CORE_USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# Names bound by `resolve_name`, kept per schema: a Bulk request sends the same
# few keys a thousand times. Keys come from clients, so the count is bounded.
_MAX_RESOLVED_NAMES = 1024


def name_of(attribute: Attribute) -> str:
    """Return the canonical name of an attribute definition."""
    return attribute.name or ""


def sub_attribute_of(attribute: Attribute, name: str) -> Attribute | None:
    """Return the sub-attribute `name` of a complex attribute, matched ignoring case."""
    wanted = name.lower()
    for sub_attribute in attribute.sub_attributes or ():
        if name_of(sub_attribute).lower() == wanted:
            return sub_attribute
    return None


def is_complex(attribute: Attribute) -> bool:
    """Tell whether an attribute holds sub-attributes."""
    return attribute.type == Attribute.Type.complex


def _common_attributes() -> tuple[Attribute, ...]:
    string, complex_ = Attribute.Type.string, Attribute.Type.complex
    read_only, exact = Mutability.read_only, CaseExact.true
    meta_parts = [
        Attribute(name="resourceType", type=string, case_exact=exact),
        Attribute(name="created", type=Attribute.Type.date_time),
        Attribute(name="lastModified", type=Attribute.Type.date_time),
        Attribute(name="location", type=Attribute.Type.reference, case_exact=exact),
        Attribute(name="version", type=string, case_exact=exact),
    ]
    # RFC 7643 §3.1: attributes every resource has, outside any schema.
    return (
        Attribute(name="id", type=string, mutability=read_only, case_exact=exact),
        Attribute(name="externalId", type=string, case_exact=exact),
        Attribute(
            name="meta",
            type=complex_,
            mutability=read_only,
            sub_attributes=[
                part.model_copy(update={"mutability": read_only}) for part in meta_parts
            ],
        ),
        # RFC 7643 §3: `schemas` names the schemas of the attributes present,
        # so the service keeps it rather than the client.
        Attribute(
            name="schemas",
            type=Attribute.Type.reference,
            multi_valued=True,
            mutability=read_only,
            case_exact=exact,
        ),
    )


@dataclass(frozen=True, slots=True)
class Target:
    """Where an attribute path lands in the stored form of a resource."""

    extension: str | None
    """The URN of the extension holding the attribute; None for the top level."""

    attribute: Attribute | None
    """The attribute, or None when the path names a whole extension."""

    sub_attribute: Attribute | None = None
    """The sub-attribute of a complex attribute, when the path names one."""

    @property
    def leaf(self) -> Attribute | None:
        """Return the attribute the path ends on."""
        return self.sub_attribute or self.attribute

    def __str__(self) -> str:
        if self.attribute is None:
            return self.extension or ""
        text = name_of(self.attribute)
        if self.sub_attribute is not None:
            text = f"{text}.{name_of(self.sub_attribute)}"
        return f"{self.extension}:{text}" if self.extension else text


@dataclass(frozen=True, slots=True)
class AttributeRule:
    """A top-level attribute with what checking a resource reads of it each time."""

    attribute: Attribute
    name: str
    """Its canonical name, the key of its value in the stored form."""
    where: str
    """How an error names it: qualified by its extension's URN, if any."""
    required: bool


@dataclass(frozen=True, eq=False)
class ResourceSchema:
    """A resource type: its core schema and its schema extensions (RFC 7643 §6)."""

    core: Schema
    extensions: tuple[Schema, ...] = ()
    common: tuple[Attribute, ...] = field(default_factory=_common_attributes)
    checked_extensions: frozenset[str] = frozenset()
    """Extensions an org registered: writes are held to every characteristic."""
    required_extensions: frozenset[str] = frozenset()
    """Extensions every resource must carry (RFC 7643 §6 `required`)."""

    @property
    def core_urn(self) -> str:
        """Return the URN of the core schema."""
        return self.core.id or ""

    @cached_property
    def extension_urns(self) -> tuple[str, ...]:
        """Return the URNs of the extensions, in declaration order."""
        return tuple(extension.id or "" for extension in self.extensions)

    @cached_property
    def _attributes(self) -> dict[str | None, dict[str, Attribute]]:
        index: dict[str | None, dict[str, Attribute]] = {
            None: {
                name_of(attribute).lower(): attribute
                for attribute in (*self.common, *(self.core.attributes or ()))
            }
        }
        for extension in self.extensions:
            index[extension.id] = {
                name_of(attribute).lower(): attribute
                for attribute in extension.attributes or ()
            }
        return index

    @cached_property
    def _resolved_names(self) -> dict[tuple[str, str | None], Target | None]:
        return {}

    @cached_property
    def _attribute_rules(self) -> dict[str | None, tuple[AttributeRule, ...]]:
        rules: dict[str | None, tuple[AttributeRule, ...]] = {}
        for scope, attributes in self._attributes.items():
            rules[scope] = tuple(
                AttributeRule(
                    attribute=attribute,
                    name=name,
                    where=name if scope is None else f"{scope}:{name}",
                    required=bool(attribute.required),
                )
                for attribute in attributes.values()
                for name in [name_of(attribute)]
            )
        return rules

    def attribute_rules(
        self, *, extension: str | None = None
    ) -> tuple[AttributeRule, ...]:
        """Return what a write checks of each top-level attribute of a scope."""
        return self._attribute_rules.get(extension, ())

    def extension_urn(self, text: str) -> str | None:
        """Return the canonical URN of the extension `text` names, ignoring case."""
        wanted = text.lower()
        for urn in self.extension_urns:
            if urn.lower() == wanted:
                return urn
        return None

    def attributes(self, *, extension: str | None = None) -> list[Attribute]:
        """Return the top-level attributes of the core (None) or of an extension."""
        return list(self._attributes.get(extension, {}).values())

    def attribute(self, name: str, *, extension: str | None = None) -> Attribute | None:
        """Return the attribute `name` of the core (None) or of an extension."""
        return self._attributes.get(extension, {}).get(name.lower())

    def resolve(self, path: AttrPath, *, extension: str | None = None) -> Target | None:
        """Bind a parsed attribute path; None when the schema has no such attribute.

        `extension` scopes the path to one extension, as for the keys of an
        extension object.
        """
        if path.uri is not None:
            whole = self.extension_urn(f"{path.uri}:{path.attr}")
            if whole is not None and path.sub_attr is None and extension is None:
                return Target(extension=whole, attribute=None)
            if path.uri.lower() == self.core_urn.lower():
                scopes: tuple[str | None, ...] = (None,)
            else:
                scopes = (self.extension_urn(path.uri),)
                if scopes[0] is None:
                    return None
            if extension is not None and scopes != (extension,):
                return None
        elif extension is not None:
            scopes = (extension,)
        else:
            # RFC 7644 §3.10: clients may leave core names unqualified and
            # SHOULD qualify extension ones, so a name the core lacks is
            # looked up in the extensions.
            scopes = (None, *self.extension_urns)

        for scope in scopes:
            attribute = self.attribute(path.attr, extension=scope)
            if attribute is None:
                continue
            if path.sub_attr is None:
                return Target(extension=scope, attribute=attribute)
            sub_attribute = sub_attribute_of(attribute, path.sub_attr)
            if sub_attribute is None:
                return None
            return Target(scope, attribute, sub_attribute)
        return None

    def resolve_name(self, text: str, *, extension: str | None = None) -> Target | None:
        """Bind a name as a JSON key spells it: plain, dotted or URN-qualified.

        RFC 7643 §2.1: attribute names are case insensitive.
        """
        key = (text, extension)
        resolved = self._resolved_names
        if key in resolved:
            return resolved[key]
        target = self._resolve_name(text, extension=extension)
        if len(resolved) < _MAX_RESOLVED_NAMES:
            resolved[key] = target
        return target

    def _resolve_name(self, text: str, *, extension: str | None) -> Target | None:
        if extension is None and (urn := self.extension_urn(text)) is not None:
            return Target(extension=urn, attribute=None)
        try:
            node = Path(text).ast
        except InvalidPathException:
            return None
        if not isinstance(node, AttrPath):
            return None
        return self.resolve(node, extension=extension)


USER_SCHEMA = ResourceSchema(
    core=User.to_schema(), extensions=(EnterpriseUser.to_schema(),)
)
"""The User resource type: the core User schema and the enterprise extension."""
