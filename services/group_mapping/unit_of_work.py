"""One transaction per change, with what it must do around the commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.errors import Uniqueness

UNIQUE_DISPLAY_NAME_INDEX = "uq_scim_group_org_display_name"


class UnitOfWork:
    """A transaction that wakes the outbox relay once it commits.

    A change that turns out to change nothing calls `discard`, and whatever
    it wrote is rolled back. A lost displayName race becomes `Uniqueness`.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_committed: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._on_committed = on_committed
        self._session: AsyncSession | None = None
        self._discarded = False

    def discard(self) -> None:
        """Roll the transaction back instead of committing it."""
        self._discarded = True

    async def __aenter__(self) -> AsyncSession:
        self._session = self._sessions()
        await self._session.begin()
        return self._session

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._session is not None
        session, self._session = self._session, None
        try:
            if exc_type is not None or self._discarded:
                await session.rollback()
                _raise_if_lost_race(exc)
                return
            try:
                await session.commit()
            except IntegrityError as error:
                await session.rollback()
                _raise_if_lost_race(error)
                raise
            self._on_committed()
        finally:
            await asyncio.shield(session.close())


def _raise_if_lost_race(error: BaseException | None) -> None:
    # Two concurrent writes of one displayName: the unique index decides.
    if isinstance(error, IntegrityError) and UNIQUE_DISPLAY_NAME_INDEX in str(
        error.orig
    ):
        raise Uniqueness("displayName is already taken in this org") from error
