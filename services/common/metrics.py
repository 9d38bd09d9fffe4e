"""Prometheus scrape endpoint of a service process."""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from services.common.settings import get_settings

logger = logging.getLogger(__name__)


class MetricsPortUnavailable(RuntimeError):
    """The configured metrics port is taken; the process does not start."""


class MetricsServer:
    """Serve this process's metrics at `/metrics` until stopped."""

    def __init__(self, port: int, *, host: str | None = None) -> None:
        """Serve on `port` of `host` (by default `settings.metrics_host`)."""
        self._port = port
        # The loopback unless configured: nothing there is for the outside.
        self._host = host if host is not None else get_settings().metrics_host
        self._server: WSGIServer | None = None

    def start(self) -> int:
        """Listen on the port (0 serves nothing); return the bound port, or 0."""
        if self._port == 0:
            return 0
        try:
            self._server, _thread = start_http_server(self._port, addr=self._host)
        except OSError as error:
            raise MetricsPortUnavailable(
                f"cannot serve metrics on {self._host}:{self._port}: {error}"
            ) from error
        port: int = self._server.server_address[1]
        logger.info("metrics on http://%s:%d/metrics", self._host, port)
        return port

    def stop(self) -> None:
        """Stop serving; the serving thread ends with the socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
