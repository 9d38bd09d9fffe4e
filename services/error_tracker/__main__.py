"""Run the error tracker: `python -m services.error_tracker`."""

from __future__ import annotations

from services.common.serve import run_service
from services.error_tracker.app import ErrorTrackerApp


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    run_service(
        "error-tracker",
        app=ErrorTrackerApp,
        address=lambda settings: settings.error_tracker_addr,
    )


if __name__ == "__main__":
    main()
