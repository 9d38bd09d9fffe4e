"""Org Schema documents: what registration accepts, and which changes break values."""

from __future__ import annotations

from typing import Any

import pytest
from scim2_models import Attribute, Returned

from services.common.errors import InvalidValue
from services.common.errors import Mutability as MutabilityError
from services.identity.scim.resource import normalize_user, visible_attributes
from services.identity.scim.schema_documents import (
    breaking_changes,
    org_user_schema,
    parse_schema_document,
)

URN = "urn:acme:scim:schemas:extension:hr:2.0:User"


def _document(*attributes: dict[str, Any]) -> dict[str, Any]:
    return {"id": URN, "name": "HR", "attributes": list(attributes)}


def test_parse_applies_rfc_defaults_and_ignores_characteristic_case() -> None:
    schema = parse_schema_document(
        _document({"NAME": "costCenter", "Type": "string", "MULTIVALUED": False})
    )
    attribute = (schema.attributes or [])[0]
    assert attribute.type == Attribute.Type.string
    assert attribute.returned == Returned.default
    assert not attribute.required


@pytest.mark.parametrize(
    ("attribute", "named"),
    [
        ({"name": "x", "type": "text"}, "type"),
        ({"name": "1x", "type": "string"}, "name"),
        ({"name": "x", "type": "integer", "canonicalValues": ["a"]}, "canonical"),
        ({"name": "x", "type": "complex"}, "subAttributes"),
        (
            {"name": "x", "type": "string", "required": True, "mutability": "readOnly"},
            "required",
        ),
        ({"name": "x", "type": "boolean", "uniqueness": "server"}, "uniqueness"),
        ({"name": "x", "type": "string", "uniqueness": "global"}, "uniqueness"),
        ({"name": "x", "type": "string", "returned": "always"}, "returned"),
        ({"name": "x", "type": "string", "bogus": 1}, "bogus"),
    ],
)
def test_parse_refuses_what_the_server_would_not_honour(
    attribute: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_schema_document(_document(attribute))
    assert named in raised.value.detail


@pytest.mark.parametrize(
    "urn",
    [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "hr",
        "urn:acme:",
    ],
)
def test_parse_refuses_reserved_or_malformed_urns(urn: str) -> None:
    with pytest.raises(InvalidValue):
        parse_schema_document({**_document({"name": "x", "type": "string"}), "id": urn})


def test_adding_attributes_breaks_nothing() -> None:
    old = parse_schema_document(_document({"name": "a", "type": "string"}))
    new = parse_schema_document(
        _document({"name": "a", "type": "string"}, {"name": "b", "type": "integer"})
    )
    assert breaking_changes(old, new) == []


def test_removing_and_tightening_are_breaking_changes() -> None:
    old = parse_schema_document(
        _document(
            {"name": "a", "type": "string"},
            {"name": "b", "type": "string", "canonicalValues": ["x", "y"]},
            {"name": "c", "type": "string"},
            {"name": "d", "type": "string"},
        )
    )
    new = parse_schema_document(
        _document(
            {"name": "b", "type": "string", "canonicalValues": ["x"]},
            {"name": "c", "type": "integer", "required": True},
            {"name": "d", "type": "string", "uniqueness": "server"},
        )
    )
    found = {(change.path, change.what) for change in breaking_changes(old, new)}
    assert found == {
        ("a", "is removed"),
        ("b", "narrows canonicalValues"),
        ("c", "changes type"),
        ("c", "becomes required"),
        ("d", "becomes unique"),
    }


def test_org_writes_refuse_read_only_and_check_canonical_values() -> None:
    schema = org_user_schema(
        [
            parse_schema_document(
                _document(
                    {"name": "cc", "type": "string", "canonicalValues": ["CC-1"]},
                    {"name": "by", "type": "string", "mutability": "readOnly"},
                    {"name": "pin", "type": "string", "returned": "never"},
                )
            )
        ]
    )
    stored = normalize_user({"userName": "a", URN: {"cc": "cc-1"}}, schema=schema)
    assert stored[URN] == {"cc": "cc-1"}
    with pytest.raises(InvalidValue, match=f"{URN}:cc"):
        normalize_user({"userName": "a", URN: {"cc": "CC-2"}}, schema=schema)
    with pytest.raises(MutabilityError, match=f"{URN}:by"):
        normalize_user({"userName": "a", f"{URN}:by": "me"}, schema=schema)

    hidden = normalize_user({"userName": "a", URN: {"pin": "1"}}, schema=schema)
    assert hidden[URN] == {"pin": "1"}
    assert URN not in visible_attributes(hidden, schema=schema)
