"""Assemble the error tracker: database, gRPC server, retry loop and pruning."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import grpc

from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from services.common.health import HealthReporter
from services.common.metrics import MetricsServer
from services.common.settings import StackSettings
from services.common.telemetry import grpc_server_interceptors
from services.error_tracker.client_errors import ClientErrorLog
from services.error_tracker.db import create_engine, session_factory
from services.error_tracker.policy import Backoff
from services.error_tracker.records import ErrorStore
from services.error_tracker.replayer import Replayer, addresses_of
from services.error_tracker.retries import RetryCoordinator
from services.error_tracker.server import ErrorTrackerServicer

_GRACE_SECONDS = 5.0


class ErrorTrackerApp:
    """The running parts of one error-tracker process."""

    def __init__(self, settings: StackSettings, *, background: bool = True) -> None:
        self.engine = create_engine(settings.database_url)
        sessions = session_factory(self.engine)
        self.backoff = Backoff(
            base_seconds=settings.error_retry_base_seconds,
            max_seconds=settings.error_retry_max_seconds,
            max_attempts=settings.error_retry_max_attempts,
        )
        self.store = ErrorStore(sessions)
        self.replayer = Replayer(
            addresses_of(settings), timeout=settings.error_replay_timeout_seconds
        )
        self.retries = RetryCoordinator(
            self.store,
            self.replayer,
            backoff=self.backoff,
            replay_timeout=settings.error_replay_timeout_seconds,
        )
        self.client_errors = ClientErrorLog(
            sessions, retention=timedelta(days=settings.client_error_retention_days)
        )
        self._metrics = MetricsServer(settings.error_tracker_metrics_port)
        self._background = background
        self._tasks: list[asyncio.Task[None]] = []
        self._server: grpc.aio.Server | None = None

    async def start(self, address: str) -> int:
        """Serve on `address` (port 0 picks a free one); return the bound port."""
        self._metrics.start()
        server = grpc.aio.server(interceptors=grpc_server_interceptors())
        pb_grpc.add_ErrorTrackerServiceServicer_to_server(
            ErrorTrackerServicer(
                store=self.store,
                retries=self.retries,
                client_errors=self.client_errors,
                backoff=self.backoff,
            ),
            server,
        )
        health = HealthReporter(server, ["rivane.error_tracker.v1.ErrorTrackerService"])
        port = server.add_insecure_port(address)
        await server.start()
        await health.serving()
        self._health = health
        self._server = server
        if self._background:
            self._tasks = [
                asyncio.create_task(self.retries.run(), name="error-retries"),
                asyncio.create_task(
                    self.client_errors.run_pruning(), name="client-error-pruning"
                ),
            ]
        return port

    async def stop(self) -> None:
        """Finish in-flight calls, stop the background tasks and close the pool."""
        if self._server is not None:
            await self._health.shutting_down()
            await self._server.stop(_GRACE_SECONDS)
        # A replay cut here stays RETRYING until its claim goes stale, and
        # another replica (or this one, restarted) takes it over.
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.replayer.close()
        await self.engine.dispose()
        self._metrics.stop()
