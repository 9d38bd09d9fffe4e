"""Run the gateway: `python -m gateway`."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from services.common.logging import configure_logging
from services.common.settings import get_settings
from services.common.telemetry import configure_tracing


def main() -> None:
    """Serve the gateway on `settings.gateway_host:gateway_port`."""
    settings = get_settings()
    service_name = f"{settings.service_name}-gateway"
    configure_logging(service_name)
    configure_tracing(service_name)

    # The gateway logs each request itself; uvicorn's access log would repeat it.
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
