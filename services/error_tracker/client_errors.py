"""The separate stream of client errors (4xx) the gateway answered, for admins.

Identity providers resend these themselves; they are kept only so that an
admin can see what a provider keeps getting wrong, and only for a while.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.error_tracker import paging
from services.error_tracker.models import ClientError

logger = logging.getLogger(__name__)

_COLUMNS = ClientError.__table__.c
_PRUNE_EVERY_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class ClientErrorFilter:
    """The filters of a listing; each applies when set."""

    org_id: str = ""
    status: int = 0
    scim_type: str = ""
    since: datetime | None = None
    until: datetime | None = None


class ClientErrorLog:
    """Record, list and age out client errors."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, retention: timedelta
    ) -> None:
        self._sessions = sessions
        self._retention = retention

    async def record(self, rows: Sequence[dict[str, object]]) -> int:
        """Insert client errors; one recorded before (same id) is not repeated."""
        if not rows:
            return 0
        async with self._sessions.begin() as session:
            result = await session.execute(
                insert(ClientError)
                .values(list(rows))
                .on_conflict_do_nothing(index_elements=["client_error_id"])
                .returning(_COLUMNS.client_error_id)
            )
            return len(result.all())

    async def page(
        self, where: ClientErrorFilter, *, limit: int, after: paging.PageKey | None
    ) -> tuple[list[ClientError], paging.PageKey | None]:
        """Return one page of client errors, newest first, and the next key."""
        query = sa.select(ClientError)
        if where.org_id:
            query = query.where(_COLUMNS.org_id == where.org_id)
        if where.status:
            query = query.where(_COLUMNS.status == where.status)
        if where.scim_type:
            query = query.where(_COLUMNS.scim_type == where.scim_type)
        if where.since is not None:
            query = query.where(_COLUMNS.occurred_at >= where.since)
        if where.until is not None:
            query = query.where(_COLUMNS.occurred_at < where.until)
        if after is not None:
            query = query.where(
                sa.tuple_(_COLUMNS.occurred_at, _COLUMNS.client_error_id)
                < sa.tuple_(sa.literal(after.at), sa.literal(after.row_id))
            )
        query = query.order_by(
            _COLUMNS.occurred_at.desc(), _COLUMNS.client_error_id.desc()
        ).limit(limit + 1)
        async with self._sessions() as session:
            rows = list((await session.execute(query)).scalars())
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], paging.PageKey(last.occurred_at, last.client_error_id)

    async def prune(self) -> int:
        """Delete the client errors older than the retention; return how many."""
        cutoff = datetime.now(UTC) - self._retention
        async with self._sessions.begin() as session:
            result = await session.execute(
                sa.delete(ClientError)
                .where(_COLUMNS.occurred_at < cutoff)
                .returning(_COLUMNS.client_error_id)
            )
            return len(result.all())

    async def run_pruning(self) -> None:
        """Prune now and then until cancelled."""
        while True:
            try:
                pruned = await self.prune()
                if pruned:
                    logger.info("pruned %d client errors", pruned)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning(
                    "pruning client errors failed (%s); trying again in %.0fs",
                    error,
                    _PRUNE_EVERY_SECONDS,
                )
            await asyncio.sleep(_PRUNE_EVERY_SECONDS)


def new_id(text: str) -> uuid.UUID:
    """Return the id a client error was sent with, or a new one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return uuid.uuid4()
