"""Page tokens: what one page hands the next, and tokens we never gave."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.common.errors import InvalidValue
from services.error_tracker import paging


def test_encode_then_decode_gives_the_same_key() -> None:
    key = paging.PageKey(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC), uuid.uuid4())
    assert paging.decode(paging.encode(key)) == key


def test_decode_of_no_token_is_the_first_page() -> None:
    assert paging.decode("") is None


@pytest.mark.parametrize("token", ["not-a-token", "W10", "WyJ4IiwgInkiXQ"])
def test_decode_refuses_a_token_we_did_not_give(token: str) -> None:
    with pytest.raises(InvalidValue):
        paging.decode(token)


def test_page_size_defaults_and_bounds() -> None:
    assert paging.page_size(0) == 100
    assert paging.page_size(1000) == 1000
    with pytest.raises(InvalidValue):
        paging.page_size(1001)
    with pytest.raises(InvalidValue):
        paging.page_size(-1)
