"""One log line per request, with ids, and never a credential or a body."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from fastapi import FastAPI
from gateway_fakes import ORG_ID, SCIM, TOKEN, client_for, user_body


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.middleware"]


async def test_each_request_is_logged_once_with_its_facts(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = await client.get(
            f"{SCIM}/Users", params={"filter": 'userName eq "x"'}
        )

    [line] = _request_lines(caplog)
    assert line.levelno == logging.INFO
    message = line.getMessage()
    assert re.fullmatch(
        rf"GET /scim/v2/Users 200 org={ORG_ID} duration_ms=\d+\.\d", message
    )
    assert line.request_id == response.headers["x-request-id"]


async def test_a_refused_request_is_logged_without_an_org(
    anonymous: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await anonymous.get(f"{SCIM}/Users/u1")

    [line] = _request_lines(caplog)
    assert line.getMessage().startswith("GET /scim/v2/Users/u1 401 org=- ")


async def test_logs_hold_no_token_and_no_body(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="gateway"):
        async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
            await client.post(
                f"{SCIM}/Users", json=user_body("secret.name@example.test")
            )
        async with client_for(app, Authorization="Bearer rvn_wrong-secret") as client:
            await client.get(f"{SCIM}/Users")

    logged = "\n".join(
        r.getMessage() + repr(r.__dict__)
        for r in caplog.records
        if r.name.startswith("gateway")
    )
    assert TOKEN not in logged
    assert "rvn_wrong-secret" not in logged
    assert "secret.name" not in logged
