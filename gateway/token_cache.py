"""The gateway's memory of which org and token a SCIM bearer secret belongs to.

An answer of the identity service is reused for at most `ttl` seconds (one at
most), and only while the replica listens to token announcements: a
revocation or a change of expiry drops the token's entry as soon as it is
announced, and a lost subscription empties the cache and stops filling it
until the replica listens again. Expiry is checked against the cached
`expires_at` on every request, by the caller.

Entries are keyed by the secret's SHA-256, so no secret outlives its request.
Concurrent misses for one secret share one call to the identity service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.identity import TokenOwner
from services.common.bearer_tokens import hash_token

# Beyond this many entries, expired ones are swept, then all if need be.
MAX_ENTRIES = 100_000

Resolve = Callable[[str], Awaitable[TokenOwner]]


@dataclass(frozen=True, slots=True)
class _Entry:
    owner: TokenOwner
    fresh_until: float


class TokenCache:
    """Resolve bearer secrets, reusing recent answers while it is safe to."""

    def __init__(self, *, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._keys_by_token: dict[str, str] = {}
        self._pending: dict[str, asyncio.Future[TokenOwner]] = {}
        # Bumped by every invalidation: an answer that was asked for before
        # one is not kept, since it may predate the change.
        self._generation = 0
        self._listening = False

    @property
    def listening(self) -> bool:
        """Say whether token announcements reach this cache."""
        return self._listening

    def start_listening(self) -> None:
        """Trust entries again: announcements reach this cache from now on."""
        self.clear()
        self._listening = True

    def stop_listening(self) -> None:
        """Forget everything and stop caching: announcements may be lost."""
        self._listening = False
        self.clear()

    def forget(self, token_id: str) -> None:
        """Drop what is known about a token that changed."""
        self._generation += 1
        key = self._keys_by_token.pop(token_id, None)
        if key is not None:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Drop every entry."""
        self._generation += 1
        self._entries.clear()
        self._keys_by_token.clear()

    async def owner_of(self, secret: str, *, resolve: Resolve) -> TokenOwner:
        """Return the owner of `secret`, asking `resolve` unless an answer is fresh."""
        if self._ttl <= 0:
            return await resolve(secret)

        key = hash_token(secret)
        entry = self._entries.get(key)
        if entry is not None and entry.fresh_until > self._clock():
            return entry.owner

        pending = self._pending.get(key)
        if pending is None:
            lookup = self._resolve(key, secret, resolve, generation=self._generation)
            pending = asyncio.ensure_future(lookup)
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        # A caller that goes away must not cancel the others' answer.
        return await asyncio.shield(pending)

    async def _resolve(
        self, key: str, secret: str, resolve: Resolve, *, generation: int
    ) -> TokenOwner:
        owner = await resolve(secret)
        if self._listening and generation == self._generation:
            self._store(key, owner)
        return owner

    def _settle(self, key: str, done: asyncio.Future[TokenOwner]) -> None:
        self._pending.pop(key, None)
        # Retrieved here, so that an error nobody awaited is not reported
        # as lost; every waiter still receives it.
        if not done.cancelled():
            done.exception()

    def _store(self, key: str, owner: TokenOwner) -> None:
        now = self._clock()
        if len(self._entries) >= MAX_ENTRIES:
            self._sweep(now)
        self._entries[key] = _Entry(owner=owner, fresh_until=now + self._ttl)
        self._keys_by_token[owner.token_id] = key

    def _sweep(self, now: float) -> None:
        stale = [
            key for key, entry in self._entries.items() if entry.fresh_until <= now
        ]
        for key in stale:
            entry = self._entries.pop(key)
            self._keys_by_token.pop(entry.owner.token_id, None)
        if len(self._entries) >= MAX_ENTRIES:
            self.clear()
