"""What a POST or PUT body becomes once stored: names, types, defaults, refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import InvalidSyntax, InvalidValue
from services.identity.scim.resource import (
    MAX_INDEXED_LENGTH,
    MAX_VALUES,
    external_id,
    is_active,
    normalize_user,
    parse_datetime,
    user_name,
    with_lifecycle,
)
from services.identity.scim.schema import CORE_USER_URN, ENTERPRISE_USER_URN

ADA = {
    "schemas": [CORE_USER_URN],
    "userName": "ada@example.test",
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "emails": [{"primary": True, "type": "work", "value": "ada@example.test"}],
}


def user(**changes: Any) -> dict[str, Any]:
    return {**ADA, **changes}


def test_normalize_user_keeps_a_plain_okta_body() -> None:
    stored = normalize_user(user(externalId="00u1", displayName="Ada Lovelace"))

    assert stored == {
        "schemas": [CORE_USER_URN],
        "userName": "ada@example.test",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "type": "work", "value": "ada@example.test"}],
        "externalId": "00u1",
        "displayName": "Ada Lovelace",
    }


def test_normalize_user_maps_names_of_any_case_to_canonical_ones() -> None:
    stored = normalize_user(
        {
            "USERNAME": "ada@example.test",
            "Name": {"GIVENNAME": "Ada"},
            "emails": [{"Value": "ada@example.test", "TYPE": "work"}],
            "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User": {
                "Department": "Treasury"
            },
        }
    )

    assert stored["userName"] == "ada@example.test"
    assert stored["name"] == {"givenName": "Ada"}
    assert stored["emails"] == [{"value": "ada@example.test", "type": "work"}]
    assert stored[ENTERPRISE_USER_URN] == {"department": "Treasury"}


def test_normalize_user_drops_read_only_and_write_only_attributes() -> None:
    stored = normalize_user(
        user(
            id="4c1f",
            meta={"resourceType": "User"},
            groups=[{"value": "g-1"}],
            password="Generated-Pa55",
        )
    )

    for dropped in ("id", "meta", "groups", "password"):
        assert dropped not in stored


def test_normalize_user_ignores_attributes_the_schema_lacks() -> None:
    stored = normalize_user(
        user(
            roles=[],
            favouriteColour="teal",
            **{"urn:example:custom:2.0:User": {"badge": "7"}},
        )
    )

    assert "favouriteColour" not in stored
    assert "roles" not in stored
    assert "urn:example:custom:2.0:User" not in stored


def test_normalize_user_ignores_unknown_schema_urns() -> None:
    stored = normalize_user(
        user(schemas=[CORE_USER_URN, "urn:example:custom:2.0:User"])
    )

    assert stored["schemas"] == [CORE_USER_URN]


def test_normalize_user_lists_the_extension_when_it_holds_data() -> None:
    stored = normalize_user(
        user(
            **{
                ENTERPRISE_USER_URN: {
                    "department": "Treasury",
                    "manager": {"value": "m-1"},
                }
            }
        )
    )

    assert stored["schemas"] == [CORE_USER_URN, ENTERPRISE_USER_URN]
    assert stored[ENTERPRISE_USER_URN]["manager"] == {"value": "m-1"}


def test_normalize_user_drops_an_empty_extension_from_schemas() -> None:
    stored = normalize_user(
        user(schemas=[CORE_USER_URN, ENTERPRISE_USER_URN], **{ENTERPRISE_USER_URN: {}})
    )

    assert stored["schemas"] == [CORE_USER_URN]
    assert ENTERPRISE_USER_URN not in stored


def test_normalize_user_reads_urn_qualified_and_dotted_keys() -> None:
    stored = normalize_user(
        user(
            **{
                f"{ENTERPRISE_USER_URN}:department": "Treasury",
                "name.middleName": "King",
            }
        )
    )

    assert stored[ENTERPRISE_USER_URN] == {"department": "Treasury"}
    assert stored["name"]["middleName"] == "King"


def test_normalize_user_drops_the_read_only_manager_display_name() -> None:
    stored = normalize_user(
        user(**{ENTERPRISE_USER_URN: {"manager": {"value": "m-1", "displayName": "B"}}})
    )

    assert stored[ENTERPRISE_USER_URN]["manager"] == {"value": "m-1"}


def test_normalize_user_reads_a_bare_manager_id_as_its_value() -> None:
    stored = normalize_user(user(**{ENTERPRISE_USER_URN: {"manager": "m-1"}}))

    assert stored[ENTERPRISE_USER_URN]["manager"] == {"value": "m-1"}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("True", True), ("true", True), ("False", False), ("false", False)],
)
def test_normalize_user_coerces_string_booleans(sent: str, kept: bool) -> None:
    stored = normalize_user(
        user(active=sent, emails=[{"value": "ada@example.test", "primary": sent}])
    )

    assert stored["active"] is kept
    assert stored["emails"][0]["primary"] is kept


def test_normalize_user_leaves_an_unsent_active_unassigned() -> None:
    for body in (user(), user(active=None)):
        stored = normalize_user(body)
        assert "active" not in stored
        assert is_active(stored) is True


def test_with_lifecycle_shows_active_only_when_set_or_not_active() -> None:
    assert "active" not in with_lifecycle(user(), active=True)
    assert with_lifecycle(user(), active=False)["active"] is False
    assert with_lifecycle(user(active=False), active=True)["active"] is True


def test_normalize_user_treats_null_and_empty_arrays_as_unassigned() -> None:
    stored = normalize_user(user(displayName=None, emails=[], phoneNumbers=[None]))

    assert "displayName" not in stored
    assert "emails" not in stored
    assert "phoneNumbers" not in stored


def test_normalize_user_is_idempotent() -> None:
    once = normalize_user(
        user(active="False", **{f"{ENTERPRISE_USER_URN}:department": "Treasury"})
    )

    assert normalize_user(once) == once


def test_normalize_user_leaves_its_input_untouched() -> None:
    body = user(active="True", id="x")
    before = {**body}

    normalize_user(body)

    assert body == before


@pytest.mark.parametrize("body", [[], "user", None, 7])
def test_normalize_user_refuses_a_body_that_is_no_object(body: object) -> None:
    with pytest.raises(InvalidSyntax):
        normalize_user(body)


@pytest.mark.parametrize(
    "body",
    [
        {"name": {"givenName": "No"}},
        {"userName": ""},
        {"userName": "   "},
        {"userName": None},
    ],
)
def test_normalize_user_requires_a_user_name(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue, match="userName"):
        normalize_user(body)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"userName": 5}, "userName"),
        ({"active": "maybe"}, "active"),
        ({"active": 1}, "active"),
        ({"emails": "ada@example.test"}, "emails"),
        ({"emails": [{"value": 5}]}, "emails.value"),
        ({"name": "Ada Lovelace"}, "name"),
        ({"x509Certificates": [{"value": "not base64!"}]}, "x509Certificates.value"),
        ({"schemas": "urn"}, "schemas"),
        ({ENTERPRISE_USER_URN: "Treasury"}, ENTERPRISE_USER_URN),
    ],
)
def test_normalize_user_refuses_values_of_the_wrong_type(
    changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidValue, match=named):
        normalize_user(user(**changes))


def test_normalize_user_refuses_two_primary_values() -> None:
    emails = [
        {"value": "ada@example.test", "primary": True},
        {"value": "ada@home.example", "primary": "True"},
    ]

    with pytest.raises(InvalidValue, match="primary"):
        normalize_user(user(emails=emails))


def test_helpers_read_the_stored_user() -> None:
    stored = normalize_user(user(externalId="00u1", active=False))

    assert user_name(stored) == "ada@example.test"
    assert external_id(stored) == "00u1"
    assert is_active(stored) is False
    assert external_id(normalize_user(user())) is None


@pytest.mark.parametrize("name", ["userName", "externalId"])
def test_normalize_user_bounds_the_attributes_kept_in_indexed_columns(
    name: str,
) -> None:
    # A longer value would overflow a PostgreSQL btree entry: a 500 before.
    assert normalize_user(user(**{name: "é" * MAX_INDEXED_LENGTH}))[name]

    with pytest.raises(InvalidValue, match=f"'{name}' must be at most"):
        normalize_user(user(**{name: "é" * (MAX_INDEXED_LENGTH + 1)}))


def test_normalize_user_bounds_the_values_of_a_multi_valued_attribute() -> None:
    emails = [{"value": f"ada{i}@example.test"} for i in range(MAX_VALUES + 1)]

    assert len(normalize_user(user(emails=emails[:MAX_VALUES]))["emails"]) == MAX_VALUES
    with pytest.raises(InvalidValue, match=f"'emails' holds at most {MAX_VALUES}"):
        normalize_user(user(emails=emails))


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-01:00"]
)
def test_parse_datetime_refuses_a_moment_outside_the_years_in_utc(text: str) -> None:
    # Accepted before, then the database driver failed to convert it: a 500.
    assert parse_datetime(text) is None


def test_parse_datetime_keeps_the_offset_of_a_moment_in_range() -> None:
    moment = parse_datetime("0001-01-01T00:00:00-01:00")

    assert moment is not None
    assert moment.utcoffset() == timedelta(hours=-1)
