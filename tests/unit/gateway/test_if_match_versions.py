"""If-Match tags that name no version a resource can be at."""

from __future__ import annotations

import pytest

from gateway.etags import parse_if_match
from services.common.errors import PreconditionFailed


@pytest.mark.parametrize("header", ['W/"0"', '"0"', 'W/"000"'])
def test_if_match_of_version_zero_is_refused_not_read_as_no_condition(
    header: str,
) -> None:
    # Versions start at 1; 0 is what the services read as "any version".
    with pytest.raises(PreconditionFailed):
        parse_if_match(header)


def test_if_match_of_version_one_is_read() -> None:
    assert parse_if_match('W/"1"') == 1
