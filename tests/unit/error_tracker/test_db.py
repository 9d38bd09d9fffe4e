"""The error tracker's engine: what a failed statement may say in the log."""

from __future__ import annotations

from services.error_tracker.db import create_engine


async def test_failed_statements_keep_their_parameters_out_of_the_log() -> None:
    engine = create_engine("postgresql+asyncpg://rivane@127.0.0.1:1/none")
    try:
        assert engine.sync_engine.hide_parameters
    finally:
        await engine.dispose()
