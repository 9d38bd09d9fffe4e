"""Database engine and sessions of the error tracker."""

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
    # A failed statement's message would carry its parameters into the log:
    # an operation's request, which holds what an identity provider sent.
    engine = create_async_engine(
        database_url,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        hide_parameters=True,
    )
    trace_engine(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory the service's units of work use."""
    return async_sessionmaker(engine, expire_on_commit=False)
