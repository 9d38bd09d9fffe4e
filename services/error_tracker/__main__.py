"""Run the error tracker: `python -m services.error_tracker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.common.logging import configure_logging
from services.common.settings import get_settings
from services.common.telemetry import configure_tracing, shutdown_tracing
from services.error_tracker.app import ErrorTrackerApp

logger = logging.getLogger(__name__)


async def _serve() -> None:
    settings = get_settings()
    app = ErrorTrackerApp(settings)
    port = await app.start(settings.error_tracker_addr)
    logger.info("error tracker listening on port %d", port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await app.stop()


def main() -> None:
    """Configure logging and tracing, then serve until SIGINT or SIGTERM."""
    configure_logging("error-tracker")
    configure_tracing("error-tracker")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())
    # Spans still in the exporter's buffer leave before the process does.
    shutdown_tracing()


if __name__ == "__main__":
    main()
