"""JSON documents both edges read: strict JSON, bounded depth, storable text."""

from __future__ import annotations

import pytest

from services.common.documents import MAX_DEPTH, check_text, load_object
from services.common.errors import InvalidSyntax, InvalidValue


def test_load_object_returns_the_object() -> None:
    assert load_object(
        '{"userName": "ada", "emails": [{"value": "a@x"}]}', what="body"
    ) == {
        "userName": "ada",
        "emails": [{"value": "a@x"}],
    }


def test_load_object_keeps_a_surrogate_pair_as_one_character() -> None:
    assert load_object('{"displayName": "\\ud83d\\ude00"}', what="body") == {
        "displayName": "\U0001f600"
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '"text"',
        "null",
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -Infinity}',
    ],
)
def test_load_object_refuses_what_is_not_one_json_object(text: str) -> None:
    with pytest.raises(InvalidSyntax):
        load_object(text, what="body")


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 100_000])
def test_load_object_refuses_deep_nesting(levels: int) -> None:
    text = '{"a":' * levels + "1" + "}" * levels

    with pytest.raises(InvalidSyntax, match="nests deeper"):
        load_object(text, what="body")


def test_load_object_accepts_nesting_up_to_the_bound() -> None:
    levels = MAX_DEPTH
    text = '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)

    assert load_object(text, what="body")


@pytest.mark.parametrize(
    "text",
    [
        '{"userName": "a\\u0000b"}',
        '{"a\\u0000": "b"}',
        '{"emails": [{"value": "\\u0000"}]}',
        '{"userName": "a\\ud800"}',
        '{"name": {"givenName": "\\udc00x"}}',
        '{"\\ud800": 1}',
        '{"userName": "a\\uD800"}',
    ],
)
def test_load_object_refuses_text_postgresql_cannot_store(text: str) -> None:
    with pytest.raises(InvalidValue):
        load_object(text, what="body")


def test_load_object_accepts_an_escaped_backslash_before_u0000() -> None:
    assert load_object('{"userName": "a\\\\u0000"}', what="body") == {
        "userName": "a\\u0000"
    }


def test_load_object_refuses_a_surrogate_character_in_the_text() -> None:
    with pytest.raises(InvalidValue, match="unpaired UTF-16 surrogate"):
        load_object('{"displayName": "Zo\u00eb \ud800"}', what="body")


def test_load_object_names_the_string_it_refused() -> None:
    with pytest.raises(InvalidValue, match="a string in body holds the character"):
        load_object('{"emails": [{"value": "x\\u0000"}]}', what="body")


def test_check_text_names_what_it_refused() -> None:
    with pytest.raises(InvalidValue, match="org name holds the character U\\+0000"):
        check_text("acme\x00", what="org name")
