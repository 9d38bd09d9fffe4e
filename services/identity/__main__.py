"""Run the identity service: `python -m services.identity`."""

from __future__ import annotations

from services.common.serve import run_service
from services.identity.app import IdentityApp


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    run_service(
        "identity", app=IdentityApp, address=lambda settings: settings.identity_addr
    )


if __name__ == "__main__":
    main()
