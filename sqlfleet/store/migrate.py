"""Bring a job database to the newest schema with the Alembic migrations shipped in the package.

A database already at ``HEAD_REVISION`` (every start but the first after an upgrade) is seen so
with one read of the version table, without importing Alembic: that import is about a tenth of
the app's load time, which every host start (and every cold start on Azure) pays.
``tests/foundation/test_schema.py`` holds ``HEAD_REVISION`` to the newest migration's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from sqlfleet.store.database import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "sqlfleet_schema_version"
# The newest migration's revision (sqlfleet/migrations/versions).
HEAD_REVISION = "0005_every_result"


def alembic_config() -> Config:
    """An Alembic configuration for the packaged migrations (no ini file needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    """The newest migration's revision, as Alembic reads the migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(database: Database) -> str | None:
    """The revision ``database`` is at; None for a database without the version table."""
    with database.read() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return None
        table = sa.table(VERSION_TABLE, sa.column("version_num", sa.String()))
        return connection.execute(sa.select(table.c.version_num)).scalar_one_or_none()


def upgrade(database: Database) -> str | None:
    """Run every migration ``database`` lacks, in one transaction where the engine allows it.

    Returns the revision the database is at afterwards.
    """
    current = current_revision(database)
    if current == HEAD_REVISION:
        return HEAD_REVISION
    from alembic import command

    head = head_revision()
    if current == head:
        return head
    config = alembic_config()
    with database.write("job database schema") as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head
