"""Listen to SCIM token announcements, and keep the token cache honest.

The identity service publishes the id of every revoked or re-expired token on
`token_events.CHANNEL`; this listener drops the token from the replica's
cache as the message arrives. The subscription is checked with a PING every
`heartbeat` seconds: a subscription silent for `silence_limit` seconds is
treated as lost, the cache is emptied and stops caching, and the listener
subscribes again; only once subscribed does the cache fill again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.token_cache import TokenCache
from services.common import token_events
from services.common.settings import StackSettings

logger = logging.getLogger(__name__)

LISTENER_NAME = "rivane-gateway-token-events"
HEARTBEAT_SECONDS = 0.25
SILENCE_LIMIT_SECONDS = 0.75
_FIRST_RETRY_SECONDS = 0.1
_LAST_RETRY_SECONDS = 2.0


class SubscriptionLost(Exception):
    """The subscription stopped answering, or was dropped by the server."""


class TokenEventListener:
    """Apply token announcements to a token cache, resubscribing as needed."""

    def __init__(
        self,
        redis: Redis,
        cache: TokenCache,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        silence_limit: float = SILENCE_LIMIT_SECONDS,
    ) -> None:
        self._redis = redis
        self._cache = cache
        self._heartbeat = heartbeat
        self._silence_limit = silence_limit
        self._stopping = False

    def stop(self) -> None:
        """Make `run` return within a heartbeat.

        Cancelling alone is not enough: a cancellation that lands as a read
        times out can be taken for the timeout inside the Redis client.
        """
        self._stopping = True

    async def run(self) -> None:
        """Listen until stopped or cancelled."""
        pause = _FIRST_RETRY_SECONDS
        while not self._stopping:
            try:
                await self._listen()
            except (RedisError, OSError, SubscriptionLost) as error:
                was_listening = self._cache.listening
                self._cache.stop_listening()
                if was_listening:
                    pause = _FIRST_RETRY_SECONDS
                logger.warning(
                    "lost the SCIM token announcements (%s); resolving every token "
                    "uncached and subscribing again in %.1f s",
                    error.__class__.__name__,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, _LAST_RETRY_SECONDS)

    async def _listen(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(token_events.CHANNEL)
            heard = pinged = time.monotonic()
            while not self._stopping:
                message = await pubsub.get_message(timeout=self._heartbeat)
                now = time.monotonic()
                if message is not None:
                    heard = now
                    self._apply(message)
                elif now - heard > self._silence_limit:
                    raise SubscriptionLost("no answer to PING")
                if now - pinged >= self._heartbeat:
                    await pubsub.ping()
                    pinged = now

    def _apply(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "subscribe":
            # Whatever changed while nobody listened is forgotten here.
            self._cache.start_listening()
            logger.info("listening to SCIM token announcements")
        elif kind == "message":
            token_id = token_events.decode(message["data"])
            if token_id is None:
                self._cache.clear()
            else:
                self._cache.forget(token_id)
        elif kind == "unsubscribe":
            raise SubscriptionLost("unsubscribed by the server")


@asynccontextmanager
async def scim_token_cache(settings: StackSettings) -> AsyncIterator[TokenCache]:
    """Return the replica's token cache, listening to announcements, until the end.

    With `token_cache_seconds` at 0 nothing is cached and nothing listened to.
    """
    cache = TokenCache(ttl=settings.token_cache_seconds)
    if settings.token_cache_seconds <= 0:
        yield cache
        return

    # Named, so that an operator (or a test) can find the connection.
    redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=0.5,
        client_name=f"{LISTENER_NAME}-{os.getpid()}",
    )
    listener = TokenEventListener(redis, cache)
    task = asyncio.create_task(listener.run(), name="token-announcements")
    try:
        yield cache
    finally:
        listener.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cache.stop_listening()
        await redis.aclose()
