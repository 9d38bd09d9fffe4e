"""Tell every gateway replica that a SCIM token changed, after the commit."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common import token_events

logger = logging.getLogger(__name__)

_ATTEMPTS = 3
_PAUSE_SECONDS = 0.05


class TokenAnnouncer:
    """Publish token changes on the channel the gateways listen to."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def announce(self, token_ids: Sequence[uuid.UUID]) -> None:
        """Publish each changed token; a lost message only delays the change.

        Gateways keep an answer about a token for at most
        `token_cache_seconds`, so a revocation that cannot be announced still
        takes effect within that time.
        """
        for token_id in token_ids:
            await self._publish(token_id)

    async def _publish(self, token_id: uuid.UUID) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                await self._redis.publish(
                    token_events.CHANNEL, token_events.encode(token_id)
                )
                return
            except (RedisError, OSError) as error:
                if attempt == _ATTEMPTS:
                    logger.warning(
                        "could not announce the change of token %s (%s); gateways "
                        "drop their cached answer within token_cache_seconds",
                        token_id,
                        error.__class__.__name__,
                    )
                    return
                logger.warning(
                    "announcing the change of token %s failed (%s); retrying",
                    token_id,
                    error.__class__.__name__,
                )
                await asyncio.sleep(_PAUSE_SECONDS)
