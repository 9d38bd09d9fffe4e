"""The command that migrates one service's tables: `python -m services.<name>.migrate`.

Each service keeps its own Alembic history in its `migrations/` folder;
the database is shared, so each history has a version table of its own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config

from services.common.settings import get_settings


def alembic_config(migrations: Path, database_url: str) -> Config:
    """Return an Alembic configuration for `database_url`, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate_main(migrations: Path, *, description: str) -> None:
    """Upgrade to head, or autogenerate a revision with `--revision MESSAGE`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database-url", default=get_settings().database_url)
    parser.add_argument("--revision", metavar="MESSAGE")
    args = parser.parse_args()

    config = alembic_config(migrations, args.database_url)
    if args.revision:
        command.revision(config, message=args.revision, autogenerate=True)
    else:
        command.upgrade(config, "head")
