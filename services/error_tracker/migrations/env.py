"""Alembic environment of the error-tracker tables (async engine)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from services.error_tracker.db import create_engine
from services.error_tracker.migrate import VERSION_TABLE
from services.error_tracker.models import Base

target_metadata = Base.metadata


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    # Other services' tables share the database; autogenerate leaves them be.
    return type_ != "table" or name in target_metadata.tables


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_name=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


asyncio.run(_run_online())
