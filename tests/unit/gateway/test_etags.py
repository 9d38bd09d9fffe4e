"""Entity tags: what If-Match and If-None-Match name (RFC 7644 §3.14)."""

from __future__ import annotations

import pytest

from gateway.etags import parse_if_match, parse_if_none_match, weak_etag
from services.common.errors import PreconditionFailed


def test_weak_etag_names_the_version() -> None:
    assert weak_etag(7) == 'W/"7"'


@pytest.mark.parametrize(
    ("header", "version"), [(None, 0), ("*", 0), ('W/"7"', 7), ('"7"', 7)]
)
def test_parse_if_match_reads_the_expected_version(
    header: str | None, version: int
) -> None:
    assert parse_if_match(header) == version


@pytest.mark.parametrize("header", ['W/"abc"', "7", 'W/"²"'])
def test_parse_if_match_refuses_a_tag_that_names_no_version(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        parse_if_match(header)


def test_if_none_match_compares_weakly_and_reads_lists() -> None:
    held = parse_if_none_match('"3", W/"7"')

    assert held.matches(3)
    assert held.matches(7)
    assert not held.matches(4)


def test_if_none_match_star_matches_any_version() -> None:
    assert parse_if_none_match("*").matches(12)


@pytest.mark.parametrize("header", [None, "", 'W/"abc"', 'W/"²"', "garbage"])
def test_if_none_match_of_no_version_of_ours_matches_nothing(
    header: str | None,
) -> None:
    assert not parse_if_none_match(header).matches(1)
