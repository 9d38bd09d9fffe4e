"""The service's state in Redis: live tokens, blocklist, revoked-after, applied events.

Every key of a user carries the hash tag `{org:user}`, so a user's keys share
one slot and the apply script touches one shard only.

- `...:live`: sorted set of the user's unexpired tokens, member
  `"<exp>:<jti>"`, scored by the time of issue (epoch seconds).
- `...:block:<jti>`: a revoked token, kept until the token would expire.
- `...:after`: the time of the user's latest revocation; tokens issued up to
  then are refused, even those never recorded as live.
- `...:applied:<event_id>`: when a revocation event was applied, by which
  path, and how many tokens it blocklisted; a repeat of the event changes
  nothing.
- `rvn:sess:restored:<deployment>`: set once the revocation times were
  restored from PostgreSQL (`restore.py`). Its absence means this Redis lost
  its data (a crash, a flush, a new server): revoked-after times are then
  rebuilt before a token is judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.session_revocation.errors import StoreUnavailable

_PREFIX = "rvn:sess"
# A repeat of an event older than this is re-applied, which is still harmless.
APPLIED_TTL_SECONDS = 7 * 24 * 3600
# Revoked-after outlives every token issued before it.
_AFTER_MARGIN_SECONDS = 60

# Blocklist the live tokens issued up to the revocation, raise the user's
# revoked-after time, and mark the event applied, in one atomic step. A crash
# before the step leaves nothing done; after it, a repeat finds the mark.
_APPLY = """
local seen = redis.call('HMGET', KEYS[3], 'completed_at', 'tokens', 'source')
if seen[1] then
  return {0, seen[1], seen[2], seen[3]}
end
local now = tonumber(ARGV[2])
local revoked = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local sep = string.find(member, ':', 1, true)
  local ttl_ms = math.floor((tonumber(string.sub(member, 1, sep - 1)) - now) * 1000)
  if ttl_ms > 0 then
    redis.call('SET', ARGV[5] .. string.sub(member, sep + 1), ARGV[7], 'PX', ttl_ms)
    revoked = revoked + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
end
redis.call('HSET', KEYS[3], 'completed_at', ARGV[2], 'tokens', revoked,
  'source', ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {1, ARGV[2], tostring(revoked), ARGV[6]}
"""
# Raise a user's revoked-after time, never lower it; keep it while it matters.
_RAISE_AFTER = """
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
"""


@dataclass(frozen=True, slots=True)
class TokenState:
    """What Redis says about one token of a user."""

    blocklisted: bool
    revoked_after: float | None
    # False when Redis lost its data and the revocation times are not back yet.
    restored: bool = True


@dataclass(frozen=True, slots=True)
class RevokedUser:
    """A user's latest revocation, as PostgreSQL keeps it."""

    org_id: str
    user_id: str
    revoked_after: float


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of applying a revocation event.

    `first` is False when the event had been applied before; the other fields
    then describe that first application.
    """

    first: bool
    completed_at: float
    tokens_revoked: int
    source: str


def _user_tag(org_id: str, user_id: str) -> str:
    return f"{_PREFIX}:{{{org_id}:{user_id}}}"


class SessionStore:
    """Read and change the revocation state of users' tokens."""

    def __init__(
        self, redis: Redis, *, max_token_ttl_seconds: int, deployment: str = "default"
    ) -> None:
        self._redis = redis
        self._max_ttl = max_token_ttl_seconds
        self._apply = redis.register_script(_APPLY)
        self._raise_after = redis.register_script(_RAISE_AFTER)
        # Deployments sharing one Redis each restore their own users.
        self._restored_key = f"{_PREFIX}:restored:{deployment}"

    @property
    def after_lifetime_seconds(self) -> int:
        """How long a revoked-after time outlives its revocation."""
        return self._max_ttl + _AFTER_MARGIN_SECONDS

    async def record_issued(
        self,
        *,
        org_id: str,
        user_id: str,
        jti: str,
        issued_at: float,
        expires_at: int,
    ) -> None:
        """Remember a token just issued, until it expires."""
        live = f"{_user_tag(org_id, user_id)}:live"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(live, {f"{expires_at}:{jti}": issued_at})
                # Anything issued longer ago than the longest lifetime is gone.
                pipe.zremrangebyscore(live, "-inf", f"({issued_at - self._max_ttl}")
                pipe.expire(live, self._max_ttl + _AFTER_MARGIN_SECONDS)
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailable("the session store is unavailable") from error

    async def revoked_after(self, *, org_id: str, user_id: str) -> float | None:
        """Return when the user's tokens were last revoked, if within a lifetime."""
        try:
            value = await self._redis.get(f"{_user_tag(org_id, user_id)}:after")
        except RedisError as error:
            raise StoreUnavailable("the session store is unavailable") from error
        return None if value is None else float(value)

    async def token_state(self, *, org_id: str, user_id: str, jti: str) -> TokenState:
        """Return whether a token is blocklisted and its user's revoked-after time."""
        tag = _user_tag(org_id, user_id)
        try:
            # One round trip; the marker lives in another slot than the user's.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.mget(f"{tag}:block:{jti}", f"{tag}:after")
                pipe.exists(self._restored_key)
                (blocked, after), restored = await pipe.execute()
        except RedisError as error:
            raise StoreUnavailable("the session store is unavailable") from error
        return TokenState(
            blocklisted=blocked is not None,
            revoked_after=None if after is None else float(after),
            restored=bool(restored),
        )

    async def is_restored(self) -> bool:
        """Whether the revocation times were restored since Redis last lost them."""
        try:
            return bool(await self._redis.exists(self._restored_key))
        except RedisError as error:
            raise StoreUnavailable("the session store is unavailable") from error

    async def restore(self, users: Sequence[RevokedUser], *, now: float) -> None:
        """Put back each user's revoked-after time, then mark the store restored."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user in users:
                    left = user.revoked_after + self.after_lifetime_seconds - now
                    if left < 1:
                        continue
                    await self._raise_after(
                        keys=[f"{_user_tag(user.org_id, user.user_id)}:after"],
                        args=[repr(user.revoked_after), int(left)],
                        client=pipe,
                    )
                pipe.set(self._restored_key, repr(now))
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailable("the session store is unavailable") from error

    async def apply(
        self,
        *,
        org_id: str,
        user_id: str,
        event_id: str,
        occurred_at: float,
        now: float,
        source: str,
    ) -> Applied:
        """Revoke every token of the user issued up to `occurred_at`, once per event."""
        tag = _user_tag(org_id, user_id)
        try:
            reply: Any = await self._apply(
                keys=[f"{tag}:live", f"{tag}:after", f"{tag}:applied:{event_id}"],
                args=[
                    repr(occurred_at),
                    repr(now),
                    self._max_ttl + _AFTER_MARGIN_SECONDS,
                    APPLIED_TTL_SECONDS,
                    f"{tag}:block:",
                    source,
                    event_id,
                ],
            )
        except RedisError as error:
            raise StoreUnavailable("the session store is unavailable") from error
        first, completed_at, tokens, applied_by = cast(list[Any], reply)
        return Applied(
            first=int(first) == 1,
            completed_at=float(completed_at),
            tokens_revoked=int(tokens),
            source=str(applied_by),
        )
