"""Database engine of the session revocation service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.common.telemetry import trace_engine


def create_engine(database_url: str) -> AsyncEngine:
    """Return an engine with a small pool: one insert per revocation, few reads."""
    engine = create_async_engine(
        database_url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        # A failed statement's error names its SQL, never the values of
        # users' records, filters or tokens, so none of it reaches a log.
        hide_parameters=True,
    )
    trace_engine(engine)
    return engine
