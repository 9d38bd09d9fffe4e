"""How attribute names, URNs and paths bind to the User schema, or to an org's."""

from __future__ import annotations

import pytest
from scim2_models import Attribute, Schema

from services.identity.scim.filters import compile_user_filter
from services.identity.scim.patch import PATCH_OP_URN, apply_patch
from services.identity.scim.resource import normalize_user
from services.identity.scim.schema import (
    CORE_USER_URN,
    ENTERPRISE_USER_URN,
    USER_SCHEMA,
    ResourceSchema,
)

BADGES_URN = "urn:example:scim:schemas:extension:badges:2.0:User"
BADGES = Schema(
    id=BADGES_URN,
    name="Badges",
    attributes=[
        Attribute(name="badge", type=Attribute.Type.string),
        Attribute(name="clearance", type=Attribute.Type.integer),
    ],
)
ORG_SCHEMA = ResourceSchema(
    core=USER_SCHEMA.core, extensions=(*USER_SCHEMA.extensions, BADGES)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("userName", "userName"),
        ("USERNAME", "userName"),
        ("name.FamilyName", "name.familyName"),
        (f"{CORE_USER_URN}:name.givenName", "name.givenName"),
        ("urn:IETF:params:scim:schemas:core:2.0:user:externalId", "externalId"),
        (
            f"{ENTERPRISE_USER_URN}:manager.value",
            f"{ENTERPRISE_USER_URN}:manager.value",
        ),
        (ENTERPRISE_USER_URN.upper(), ENTERPRISE_USER_URN),
        ("department", f"{ENTERPRISE_USER_URN}:department"),
        ("emails.value", "emails.value"),
        ("id", "id"),
    ],
)
def test_resolve_name_binds_to_the_canonical_attribute(
    text: str, expected: str
) -> None:
    target = USER_SCHEMA.resolve_name(text)

    assert target is not None
    assert str(target) == expected


@pytest.mark.parametrize(
    "text",
    [
        "favouriteColour",
        "name.nickname",
        "userName.first",
        f"{ENTERPRISE_USER_URN}:userName",
        "urn:example:unknown:2.0:User:badge",
        'emails[type eq "work"]',
        "not a name",
        "",
    ],
)
def test_resolve_name_answers_none_for_what_the_schema_lacks(text: str) -> None:
    assert USER_SCHEMA.resolve_name(text) is None


def test_an_org_schema_extends_writes_patches_and_filters() -> None:
    stored = normalize_user(
        {"userName": "ada@example.test", BADGES_URN: {"Badge": "B-7", "clearance": 3}},
        schema=ORG_SCHEMA,
    )
    patched = apply_patch(
        stored,
        {
            "schemas": [PATCH_OP_URN],
            "Operations": [
                {"op": "replace", "path": f"{BADGES_URN}:clearance", "value": 4}
            ],
        },
        schema=ORG_SCHEMA,
    )

    assert stored["schemas"] == [CORE_USER_URN, BADGES_URN]
    assert patched[BADGES_URN] == {"badge": "B-7", "clearance": 4}
    assert compile_user_filter("clearance gt 2", schema=ORG_SCHEMA) is not None
    assert BADGES_URN not in normalize_user(
        {"userName": "ada@example.test", BADGES_URN: {"badge": "B-7"}}
    )
