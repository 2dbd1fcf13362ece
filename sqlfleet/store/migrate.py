"""Bring a job database to the newest schema with the Alembic migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from sqlfleet.store.database import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "sqlfleet_schema_version"


def alembic_config() -> Config:
    """An Alembic configuration for the packaged migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(database: Database) -> str | None:
    with database.read() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(database: Database) -> str | None:
    """Run every migration ``database`` lacks, in one transaction where the engine allows it.

    Returns the revision the database is at afterwards.
    """
    head = head_revision()
    if current_revision(database) == head:
        return head
    config = alembic_config()
    with database.write("job database schema") as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head
