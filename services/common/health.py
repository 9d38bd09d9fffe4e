"""The standard gRPC health service (grpc.health.v1) of a service process.

Kubernetes probes the services with it (`grpc:` probes). It comes from the
`grpcio-health-checking` package; a process without that package serves no
health service and says so once in its log.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Any

import grpc

logger = logging.getLogger(__name__)


class HealthReporter:
    """Report a server's services as SERVING until shutdown begins."""

    def __init__(self, server: grpc.aio.Server, services: Iterable[str]) -> None:
        """Add the health service to `server`, before it starts."""
        self._servicer: Any = None
        try:
            health = importlib.import_module("grpc_health.v1.health")
            health_pb2 = importlib.import_module("grpc_health.v1.health_pb2")
            health_pb2_grpc = importlib.import_module("grpc_health.v1.health_pb2_grpc")
        except ImportError:
            logger.warning("grpcio-health-checking is missing: no gRPC health service")
            return

        self._servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)
        self._serving = health_pb2.HealthCheckResponse.SERVING
        # "" is the whole server, which is what a Kubernetes probe asks about.
        self._services = ("", *services)

    async def serving(self) -> None:
        """Answer SERVING for the server and each of its services."""
        if self._servicer is None:
            return
        for service in self._services:
            await self._servicer.set(service, self._serving)

    async def shutting_down(self) -> None:
        """Answer NOT_SERVING from now on, so that probes take the pod out."""
        if self._servicer is not None:
            await self._servicer.enter_graceful_shutdown()
