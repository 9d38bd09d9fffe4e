"""The Allow header of a 405 names every method the path serves (RFC 9110)."""

from __future__ import annotations

import httpx
import pytest
from gateway_fakes import SCIM


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/Users", {"GET", "POST"}),
        ("PUT", "/Groups", {"GET", "POST"}),
        ("POST", "/Users/some-id", {"DELETE", "GET", "PATCH", "PUT"}),
    ],
)
async def test_wrong_method_names_every_method_of_the_path_in_allow(
    client: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    # /Users answered "Allow: POST", which tells an IdP it cannot list users.
    response = await client.request(method, f"{SCIM}{path}")

    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == allowed
