"""Migrate the error-tracker tables: `python -m services.error_tracker.migrate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config

from services.common.settings import get_settings

MIGRATIONS = Path(__file__).with_name("migrations")
# The database is shared with other services, each with its own history.
VERSION_TABLE = "alembic_version_error_tracker"


def alembic_config(database_url: str) -> Config:
    """Return an Alembic configuration for `database_url`, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def main() -> None:
    """Upgrade to head, or autogenerate a revision with `--revision MESSAGE`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=get_settings().database_url)
    parser.add_argument("--revision", metavar="MESSAGE")
    args = parser.parse_args()

    config = alembic_config(args.database_url)
    if args.revision:
        command.revision(config, message=args.revision, autogenerate=True)
    else:
        command.upgrade(config, "head")


if __name__ == "__main__":
    main()
