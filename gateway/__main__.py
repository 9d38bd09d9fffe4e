"""Run the gateway: `python -m gateway`."""

from __future__ import annotations

import gc

import uvicorn

from gateway.app import create_app
from services.common.logging import configure_logging
from services.common.metrics import MetricsServer
from services.common.settings import get_settings
from services.common.telemetry import configure_tracing, shutdown_tracing

# On SIGTERM uvicorn stops accepting, then lets requests in flight finish.
_GRACE_SECONDS = 20


def main() -> None:
    """Serve the gateway on `settings.gateway_host:gateway_port`."""
    settings = get_settings()
    service_name = f"{settings.service_name}-gateway"
    configure_logging(service_name)
    configure_tracing(service_name)
    # Prometheus scrapes a port of its own, which holds no org's data.
    metrics = MetricsServer(settings.gateway_metrics_port)
    metrics.start()

    app = create_app(settings)
    # What startup built lives as long as the process: the collector need not
    # walk it again on each full collection (a Bulk request makes many).
    gc.freeze()
    # The gateway logs each request itself; uvicorn's access log would repeat it.
    try:
        uvicorn.run(
            app,
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            timeout_graceful_shutdown=_GRACE_SECONDS,
        )
    finally:
        metrics.stop()
        shutdown_tracing()


if __name__ == "__main__":
    main()
