"""Rate limits as a client meets them: a SCIM 429 with Retry-After, or nothing."""

from __future__ import annotations

import logging
import socket

import pytest
from fastapi import FastAPI
from gateway_fakes import SCIM, TOKEN, TOKEN_ID, FakeIdentity, client_for
from redis.asyncio import Redis

from gateway.errors import TooManyRequests
from gateway.rate_limits import RateLimiter

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class Exhausted:
    """A limiter whose every bucket is empty for three more seconds."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def admit(self, token_id: str) -> None:
        self.asked.append(token_id)
        raise TooManyRequests("too many requests", retry_after=3)


async def test_an_exhausted_token_gets_a_scim_429_with_retry_after(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    limiter = Exhausted()
    app.state.rate_limiter = limiter
    async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
        response = await client.post(f"{SCIM}/Users", json={"userName": "ada"})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.json()["schemas"] == [ERROR_SCHEMA]
    assert response.json()["status"] == "429"
    assert limiter.asked == [TOKEN_ID]
    assert fake_identity.user_calls() == []


async def test_without_redis_requests_are_admitted_and_one_warning_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    redis = Redis.from_url(
        f"redis://127.0.0.1:{closed_port}/0", socket_connect_timeout=0.2
    )
    limiter = RateLimiter(redis, per_second=1, burst=1)

    with caplog.at_level(logging.WARNING, logger="gateway.rate_limits"):
        for _ in range(5):
            await limiter.admit(TOKEN_ID)
    await redis.aclose()

    warnings = [r for r in caplog.records if r.name == "gateway.rate_limits"]
    assert len(warnings) == 1
    assert "admitting" in warnings[0].getMessage()


async def test_a_limit_of_zero_admits_everything() -> None:
    limiter = RateLimiter(None, per_second=0, burst=1)

    for _ in range(100):
        await limiter.admit(TOKEN_ID)
