"""Run the group-mapping service: `python -m services.group_mapping`."""

from __future__ import annotations

from services.common.serve import run_service
from services.group_mapping.app import GroupMappingApp


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    run_service(
        "group-mapping",
        app=GroupMappingApp,
        address=lambda settings: settings.group_mapping_addr,
    )


if __name__ == "__main__":
    main()
