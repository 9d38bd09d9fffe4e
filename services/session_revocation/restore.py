"""Rebuild the revocation times in Redis from PostgreSQL after Redis lost them.

Redis keeps the blocklist and each user's revoked-after time; PostgreSQL
keeps a `revocation_record` of every revocation. A Redis that crashed before
its snapshot, was flushed or was replaced would forget revocations, and a
reactivated user's revoked tokens would verify again. The revoked-after time
alone refuses every token a revocation covered (those issued up to it), so
putting back each user's latest one within a token lifetime is enough.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from services.session_revocation.records import RevocationRecords
from services.session_revocation.store import RevokedUser, SessionStore

logger = logging.getLogger(__name__)


class RevocationRestorer:
    """Restore the revoked-after times once per loss of Redis's data."""

    def __init__(
        self,
        *,
        store: SessionStore,
        records: RevocationRecords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._records = records
        self._clock = clock
        self._lock = asyncio.Lock()

    async def restore(self) -> None:
        """Put back the revocation times unless another call already did."""
        async with self._lock:
            if await self._store.is_restored():
                return
            now = self._clock()
            lifetime = timedelta(seconds=self._store.after_lifetime_seconds)
            cutoff = datetime.fromtimestamp(now, UTC) - lifetime
            latest = await self._records.latest_since(cutoff)
            users = [
                RevokedUser(
                    org_id=org_id, user_id=user_id, revoked_after=occurred.timestamp()
                )
                for org_id, user_id, occurred in latest
            ]
            await self._store.restore(users, now=now)
        logger.warning(
            "the session store had no restore mark (new, flushed or restarted "
            "without its data); restored the revocations of %d users",
            len(users),
        )
