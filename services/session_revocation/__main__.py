"""Run the session revocation service: `python -m services.session_revocation`."""

from __future__ import annotations

from services.common.serve import run_service
from services.session_revocation.app import RevocationApp


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    run_service(
        "session-revocation",
        app=RevocationApp,
        address=lambda settings: settings.revocation_addr,
    )


if __name__ == "__main__":
    main()
