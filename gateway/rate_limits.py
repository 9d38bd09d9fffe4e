"""Rate limits per SCIM token, shared by every gateway replica through Redis.

Each token has a bucket of `burst` requests that refills at `per_second`; a
request finds it empty gets a 429 with Retry-After (RFC 6585 §4), so one noisy
identity provider cannot starve the others. The bucket lives in Redis and is
updated by one Lua script, atomically, on Redis's clock.

When Redis cannot answer, requests are admitted and a warning is logged at
most every `_WARN_EVERY_SECONDS`: provisioning staying up matters more than
throttling it, and the identity service's pool still bounds the load. After a
failure Redis is left alone for `_PAUSE_SECONDS`, so that an outage does not
add a timeout to every request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.errors import TooManyRequests
from services.common.settings import StackSettings

logger = logging.getLogger(__name__)

_KEY_PREFIX = "rvn:rate:scim-token:"
_PAUSE_SECONDS = 1.0
_WARN_EVERY_SECONDS = 30.0
_REDIS_TIMEOUT_SECONDS = 0.25

# KEYS[1] the token's bucket; ARGV[1] refill per second; ARGV[2] burst.
# Returns {1, 0} when admitted, {0, milliseconds until a request is} when not.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
level = math.min(burst, level + math.max(0, t - at) * rate)
local admitted = 0
local wait_ms = 0
if level >= 1 then
  level = level - 1
  admitted = 1
else
  wait_ms = math.ceil((1 - level) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {admitted, wait_ms}
"""


class RateLimiter:
    """Admit or refuse one request of a token."""

    def __init__(self, redis: Redis | None, *, per_second: float, burst: int) -> None:
        self._redis = redis
        self._per_second = per_second
        self._burst = burst
        self._take = None if redis is None else redis.register_script(_TAKE)
        self._paused_until = 0.0
        self._warned_at = -_WARN_EVERY_SECONDS

    async def admit(self, token_id: str) -> None:
        """Return when the token may make a request; raise `TooManyRequests` if not."""
        if self._take is None or time.monotonic() < self._paused_until:
            return
        try:
            reply = cast(
                list[Any],
                await self._take(
                    keys=[_KEY_PREFIX + token_id],
                    args=[self._per_second, self._burst],
                ),
            )
        except (RedisError, OSError) as error:
            self._fail_open(error)
            return

        admitted, wait_ms = int(reply[0]), int(reply[1])
        if not admitted:
            # RFC 9110 §10.2.3: Retry-After is a whole number of seconds.
            raise TooManyRequests(
                "too many requests for this token; retry later",
                retry_after=max(1, math.ceil(wait_ms / 1000)),
            )

    def _fail_open(self, error: Exception) -> None:
        now = time.monotonic()
        self._paused_until = now + _PAUSE_SECONDS
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(
                "rate limits cannot be checked (%s); admitting SCIM requests "
                "unlimited and trying Redis again in %.0f s",
                error.__class__.__name__,
                _PAUSE_SECONDS,
            )


@asynccontextmanager
async def rate_limiter(settings: StackSettings) -> AsyncIterator[RateLimiter]:
    """Return the limiter `settings` configure, with its Redis client, until the end."""
    if settings.rate_limit_per_second <= 0:
        yield RateLimiter(None, per_second=0, burst=settings.rate_limit_burst)
        return
    redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        socket_timeout=_REDIS_TIMEOUT_SECONDS,
    )
    try:
        yield RateLimiter(
            redis,
            per_second=settings.rate_limit_per_second,
            burst=settings.rate_limit_burst,
        )
    finally:
        await redis.aclose()
