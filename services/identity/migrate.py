"""Migrate the identity database: `python -m services.identity.migrate`."""

from __future__ import annotations

from pathlib import Path

from services.common.migrate import migrate_main

MIGRATIONS = Path(__file__).with_name("migrations")


def main() -> None:
    """Upgrade to head, or autogenerate a revision with `--revision MESSAGE`."""
    migrate_main(MIGRATIONS, description=__doc__ or "")


if __name__ == "__main__":
    main()
