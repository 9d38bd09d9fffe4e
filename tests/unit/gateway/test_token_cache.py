"""The token cache: how long an answer is reused, and what makes it forget."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gateway.identity import TokenOwner
from gateway.token_cache import TokenCache
from services.common.bearer_tokens import CredentialKind, mint
from services.common.errors import Unauthorized

SECRET = mint(CredentialKind.SCIM)
OWNER = TokenOwner(org_id="org-1", token_id="token-1", expires_at=None)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Identity:
    """Counts resolutions; answers OWNER, or fails once told to."""

    def __init__(self) -> None:
        self.calls = 0
        self.revoked = False
        self.gate: asyncio.Event | None = None

    async def resolve(self, secret: str) -> TokenOwner:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.revoked:
            raise Unauthorized("revoked")
        return OWNER


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> TokenCache:
    cache = TokenCache(ttl=1.0, clock=clock)
    cache.start_listening()
    return cache


async def test_an_answer_is_reused_for_the_ttl_only(
    cache: TokenCache, clock: Clock
) -> None:
    identity = Identity()

    for _ in range(3):
        assert await cache.owner_of(SECRET, resolve=identity.resolve) == OWNER
    clock.now += 0.99
    await cache.owner_of(SECRET, resolve=identity.resolve)
    assert identity.calls == 1

    clock.now += 0.02
    await cache.owner_of(SECRET, resolve=identity.resolve)
    assert identity.calls == 2


async def test_an_announcement_drops_the_token_at_once(cache: TokenCache) -> None:
    identity = Identity()
    await cache.owner_of(SECRET, resolve=identity.resolve)

    identity.revoked = True
    cache.forget(OWNER.token_id)

    with pytest.raises(Unauthorized):
        await cache.owner_of(SECRET, resolve=identity.resolve)


async def test_nothing_is_cached_while_not_listening(clock: Clock) -> None:
    cache = TokenCache(ttl=1.0, clock=clock)
    identity = Identity()

    await cache.owner_of(SECRET, resolve=identity.resolve)
    await cache.owner_of(SECRET, resolve=identity.resolve)

    assert identity.calls == 2


async def test_losing_the_subscription_forgets_everything(cache: TokenCache) -> None:
    identity = Identity()
    await cache.owner_of(SECRET, resolve=identity.resolve)

    cache.stop_listening()
    await cache.owner_of(SECRET, resolve=identity.resolve)

    assert identity.calls == 2


async def test_an_answer_asked_for_before_an_announcement_is_not_kept(
    cache: TokenCache,
) -> None:
    identity = Identity()
    identity.gate = asyncio.Event()
    in_flight = asyncio.create_task(cache.owner_of(SECRET, resolve=identity.resolve))
    await asyncio.sleep(0)

    # The revocation commits and is announced while the lookup is under way.
    cache.forget(OWNER.token_id)
    identity.gate.set()
    await in_flight
    identity.gate = None
    identity.revoked = True

    with pytest.raises(Unauthorized):
        await cache.owner_of(SECRET, resolve=identity.resolve)


async def test_concurrent_misses_share_one_resolution(cache: TokenCache) -> None:
    identity = Identity()
    identity.gate = asyncio.Event()
    waiting = [
        asyncio.create_task(cache.owner_of(SECRET, resolve=identity.resolve))
        for _ in range(20)
    ]
    await asyncio.sleep(0)
    identity.gate.set()

    assert await asyncio.gather(*waiting) == [OWNER] * 20
    assert identity.calls == 1


async def test_a_refusal_is_never_cached(cache: TokenCache) -> None:
    identity = Identity()
    identity.revoked = True

    for _ in range(2):
        with pytest.raises(Unauthorized):
            await cache.owner_of(SECRET, resolve=identity.resolve)
    assert identity.calls == 2


async def test_zero_ttl_resolves_every_time() -> None:
    cache = TokenCache(ttl=0)
    cache.start_listening()
    identity = Identity()

    await cache.owner_of(SECRET, resolve=identity.resolve)
    await cache.owner_of(SECRET, resolve=identity.resolve)

    assert identity.calls == 2


def test_the_cache_keeps_no_secret(cache: TokenCache) -> None:
    expiring = TokenOwner(org_id="o", token_id="t", expires_at=datetime.now(UTC))
    cache._store("hash-of-the-secret", expiring)

    assert SECRET not in repr(cache.__dict__)
