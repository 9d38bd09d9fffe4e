"""Run one gRPC service of the stack until SIGINT or SIGTERM.

Every service's `python -m services.<name>` is this: logging and tracing
configured under the service's name, its app started on its address from the
settings, then stopped gracefully on a signal, with the spans still buffered
sent before the process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable
from typing import Protocol

from services.common.logging import configure_logging
from services.common.settings import StackSettings, get_settings
from services.common.telemetry import configure_tracing, shutdown_tracing

logger = logging.getLogger(__name__)


class ServiceApp(Protocol):
    """What a service's app offers the runner."""

    async def start(self, address: str) -> int: ...

    async def stop(self) -> None: ...


def run_service(
    name: str,
    *,
    app: Callable[[StackSettings], ServiceApp],
    address: Callable[[StackSettings], str],
) -> None:
    """Serve the app `app(settings)` on `address(settings)` until told to stop."""
    configure_logging(name)
    configure_tracing(name)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(name, app=app, address=address))
    # Spans still in the exporter's buffer leave before the process does.
    shutdown_tracing()


async def _serve(
    name: str,
    *,
    app: Callable[[StackSettings], ServiceApp],
    address: Callable[[StackSettings], str],
) -> None:
    settings = get_settings()
    service = app(settings)
    port = await service.start(address(settings))
    # What startup built lives as long as the process: the collector need not
    # walk it again on each full collection.
    gc.freeze()
    logger.info("%s listening on port %d", name, port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await service.stop()
