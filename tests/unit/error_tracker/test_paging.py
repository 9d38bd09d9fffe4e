"""Page tokens: what one page hands the next, and tokens we never gave."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

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


def _forged(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "key",
    [
        ["2026-01-01T00:00:00+00:00", 5],
        ["2026-01-01T00:00:00+00:00", {"a": 1}],
        [["2026-01-01T00:00:00+00:00"], str(uuid.uuid4())],
        ["0001-01-01T00:00:00+14:00", str(uuid.uuid4())],
        ["9999-12-31T23:59:59-14:00", str(uuid.uuid4())],
        ["2026-01-01T00:00:00", str(uuid.uuid4())],
    ],
)
def test_decode_refuses_a_forged_token_of_the_right_shape(key: Any) -> None:
    with pytest.raises(InvalidValue):
        paging.decode(_forged(key))


def test_decode_reads_a_time_in_utc() -> None:
    row_id = uuid.uuid4()
    key = paging.decode(_forged(["2026-01-01T02:00:00+02:00", str(row_id)]))
    assert key == paging.PageKey(datetime(2026, 1, 1, tzinfo=UTC), row_id)


def test_page_size_defaults_and_bounds() -> None:
    assert paging.page_size(0) == 100
    assert paging.page_size(1000) == 1000
    with pytest.raises(InvalidValue):
        paging.page_size(1001)
    with pytest.raises(InvalidValue):
        paging.page_size(-1)
