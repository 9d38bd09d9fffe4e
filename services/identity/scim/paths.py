"""The path of a PATCH operation (RFC 7644 §3.5.2), bound to a resource schema.

scim2-models parses the path (`Path.ast`), with the grammar of RFC 7644
§3.5.2 and errata 7122; the names it holds are bound here to a
`ResourceSchema`.
"""

from __future__ import annotations

from dataclasses import dataclass

from scim2_models import InvalidPathException, Path
from scim2_models.path import AttrPath, Comparison, FilterNode, Present, ValuePath

from services.common.errors import InvalidPath
from services.identity.scim.matching import check_filter
from services.identity.scim.schema import ResourceSchema, Target, name_of

# A path names one attribute, perhaps through a short value filter; the
# longest an IdP sends is an extension URN with a sub-attribute.
MAX_PATH_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PatchPath:
    """A parsed path: an attribute, and the filter selecting some of its values."""

    target: Target
    val_filter: FilterNode | None = None
    selects: bool = False
    """Whether the path picks values of a multi-valued attribute, filter or not."""


def parse_patch_path(path: str, *, schema: ResourceSchema) -> PatchPath:
    """Parse and bind the path of a PATCH operation.

    Raises:
        InvalidPath: the path does not parse, names no attribute of the
            schema, or filters an attribute that holds a single value.
    """
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPath(f"a path is at most {MAX_PATH_LENGTH} characters")
    try:
        node = Path(path).ast
    except InvalidPathException as error:
        raise InvalidPath(f"'{path}' is no valid path: {error.detail}") from None

    if isinstance(node, AttrPath):
        target = _resolve(node, path=path, schema=schema)
        attribute = target.attribute
        many = attribute is not None and bool(attribute.multi_valued)
        return PatchPath(target, selects=many and target.sub_attribute is not None)
    if isinstance(node, ValuePath):
        target = _resolve(node.attr_path, path=path, schema=schema)
        return _selection(
            target, node.val_filter, node.sub_attr, path=path, schema=schema
        )
    if isinstance(node, Comparison | Present):
        # Errata 7122: a path may be an attrExp, as in
        # `schemas eq "urn:..."`, selecting the values it compares.
        target = _resolve(node.attr_path, path=path, schema=schema)
        if target.sub_attribute is None:
            inner = AttrPath(attr="value")
            val_filter: FilterNode = (
                Comparison(attr_path=inner, op=node.op, value=node.value)
                if isinstance(node, Comparison)
                else Present(attr_path=inner)
            )
            return _selection(target, val_filter, None, path=path, schema=schema)
    raise InvalidPath(f"'{path}' does not name an attribute to patch")


def _resolve(attr_path: AttrPath, *, path: str, schema: ResourceSchema) -> Target:
    target = schema.resolve(attr_path)
    if target is None:
        raise InvalidPath(f"'{path}' names no attribute of the resource")
    return target


def _selection(
    target: Target,
    val_filter: FilterNode,
    sub_attr: str | None,
    *,
    path: str,
    schema: ResourceSchema,
) -> PatchPath:
    attribute = target.attribute
    if attribute is None or not attribute.multi_valued:
        raise InvalidPath(f"'{path}' filters an attribute of a single value")
    if sub_attr is not None:
        sub_target = schema.resolve(
            AttrPath(attr=name_of(attribute), sub_attr=sub_attr),
            extension=target.extension,
        )
        if sub_target is None:
            raise InvalidPath(f"'{path}' names no sub-attribute of the resource")
        target = sub_target
    # Checked now, so that an invalid filter fails whatever the values hold.
    check_filter(val_filter, attribute=attribute, error=InvalidPath)
    return PatchPath(target, val_filter=val_filter, selects=True)
