"""Database engine and sessions of the identity service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.common.telemetry import trace_engine


def create_engine(database_url: str) -> AsyncEngine:
    """Return an engine with a pool sized for one service process, traced."""
    engine = create_async_engine(
        database_url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        # A failed statement's error names its SQL, never the values of
        # users' records, filters or tokens, so none of it reaches a log.
        hide_parameters=True,
    )
    trace_engine(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory the service's units of work use."""
    return async_sessionmaker(engine, expire_on_commit=False)
