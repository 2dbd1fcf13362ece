"""Alembic environment of the job database.

Two ways in: ``SqlJobStore`` passes an open connection in ``config.attributes["connection"]``
(migrations run on open); the ``alembic`` command line (``alembic upgrade head`` at the
repository root, configured in pyproject.toml) connects to ``sqlalchemy.url`` if set, else to
``SQLFLEET_JOB_DATABASE_URL``. This file does not configure logging: the host app owns it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from sqlfleet.settings import load_settings
from sqlfleet.store.tables import metadata

VERSION_TABLE = "sqlfleet_schema_version"
# Any constant: serialises concurrent upgrades of one PostgreSQL database (several hosts starting).
_PG_MIGRATION_LOCK = 0x5A1F1EE7


def _configure(**options: object) -> None:
    context.configure(target_metadata=metadata, version_table=VERSION_TABLE, **options)


def _run(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        context.run_migrations()


def _url() -> str:
    config = context.config
    # Without an ini file (pyproject.toml only) there is no main section to read a URL from.
    given = config.get_section(config.config_ini_section, {}).get("sqlalchemy.url")
    return given or load_settings().job_database_url


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        # Imported here: the store's Database applies SQL Fleet's SQLite settings and URL rules.
        from sqlfleet.store.database import Database

        database = Database(_url())
        try:
            with database.engine.connect() as connection:
                _run(connection)
                connection.commit()
        finally:
            database.dispose()
