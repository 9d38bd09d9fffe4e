"""Revocation state in the real Redis: what an apply changes, and what a repeat does."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from services.common.settings import get_settings
from services.session_revocation.store import SessionStore

MAX_TTL = 3600


@dataclass
class User:
    """A user of a fresh org, so that no other test shares its keys."""

    org_id: str
    user_id: str


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(get_settings().redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis: Redis) -> SessionStore:
    return SessionStore(redis, max_token_ttl_seconds=MAX_TTL)


@pytest.fixture
def user() -> User:
    return User(org_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))


async def _issue(
    store: SessionStore, user: User, jti: str, *, at: float, ttl: int = 600
) -> None:
    await store.record_issued(
        org_id=user.org_id,
        user_id=user.user_id,
        jti=jti,
        issued_at=at,
        expires_at=int(at) + ttl,
    )


async def _apply(
    store: SessionStore, user: User, *, occurred_at: float, event_id: str = ""
) -> tuple[bool, int, str]:
    applied = await store.apply(
        org_id=user.org_id,
        user_id=user.user_id,
        event_id=event_id or str(uuid.uuid4()),
        occurred_at=occurred_at,
        now=time.time(),
        source="direct",
    )
    return applied.first, applied.tokens_revoked, applied.source


async def _blocked(store: SessionStore, user: User, jti: str) -> bool:
    state = await store.token_state(org_id=user.org_id, user_id=user.user_id, jti=jti)
    return state.blocklisted


async def test_apply_blocklists_the_tokens_issued_up_to_the_change(
    store: SessionStore, redis: Redis, user: User
) -> None:
    now = time.time()
    await _issue(store, user, "before-1", at=now - 20)
    await _issue(store, user, "before-2", at=now - 10, ttl=30)
    await _issue(store, user, "after", at=now + 1)

    assert await _apply(store, user, occurred_at=now) == (True, 2, "direct")

    assert await _blocked(store, user, "before-1")
    assert await _blocked(store, user, "before-2")
    assert not await _blocked(store, user, "after")
    # Each entry lasts as long as its token would have.
    tag = f"rvn:sess:{{{user.org_id}:{user.user_id}}}"
    assert 0 < await redis.ttl(f"{tag}:block:before-2") <= 20
    assert 500 < await redis.ttl(f"{tag}:block:before-1") <= 580
    after = await store.revoked_after(org_id=user.org_id, user_id=user.user_id)
    assert after == pytest.approx(now)


async def test_a_repeated_event_changes_nothing_and_reports_the_first_apply(
    store: SessionStore, user: User
) -> None:
    now = time.time()
    event_id = str(uuid.uuid4())
    await _issue(store, user, "live", at=now - 5)
    first = await _apply(store, user, occurred_at=now, event_id=event_id)
    # Scored before the change: applying the event again would catch it.
    await _issue(store, user, "new", at=now - 1)

    repeat = await store.apply(
        org_id=user.org_id,
        user_id=user.user_id,
        event_id=event_id,
        occurred_at=now,
        now=time.time(),
        source="kafka",
    )

    assert first == (True, 1, "direct")
    assert (repeat.first, repeat.tokens_revoked, repeat.source) == (False, 1, "direct")
    assert not await _blocked(store, user, "new")


async def test_revoked_after_never_moves_back(store: SessionStore, user: User) -> None:
    now = time.time()

    await _apply(store, user, occurred_at=now)
    await _apply(store, user, occurred_at=now - 60)

    after = await store.revoked_after(org_id=user.org_id, user_id=user.user_id)
    assert after == pytest.approx(now)
