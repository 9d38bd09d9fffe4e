"""Run the session revocation service: `python -m services.session_revocation`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.common.logging import configure_logging
from services.common.settings import get_settings
from services.common.telemetry import configure_tracing, shutdown_tracing
from services.session_revocation.app import RevocationApp

logger = logging.getLogger(__name__)


async def _serve() -> None:
    settings = get_settings()
    app = RevocationApp(settings)
    port = await app.start(settings.revocation_addr)
    logger.info("session revocation service listening on port %d", port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await app.stop()


def main() -> None:
    """Configure logging and tracing, then serve until SIGINT or SIGTERM."""
    configure_logging("session-revocation")
    configure_tracing("session-revocation")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())
    # Spans still in the exporter's buffer leave before the process does.
    shutdown_tracing()


if __name__ == "__main__":
    main()
