"""Database engine of the session revocation service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.common.telemetry import trace_engine


def create_engine(database_url: str) -> AsyncEngine:
    """Return an engine with a small pool: one insert per revocation, few reads."""
    engine = create_async_engine(
        database_url, pool_size=5, max_overflow=5, pool_pre_ping=True
    )
    trace_engine(engine)
    return engine
