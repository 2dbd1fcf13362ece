"""The job database schema: migrations build it on an empty database (SQLite, PostgreSQL,
``alembic upgrade head``), they match the tables the store uses, and it compiles for SQL Server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateIndex, CreateTable

from sqlfleet.store import SqlJobStore
from sqlfleet.store.migrate import (
    HEAD_REVISION,
    VERSION_TABLE,
    current_revision,
    head_revision,
)
from sqlfleet.store.tables import metadata
from tests.foundation.conftest import create_postgres_database, drop_postgres_database
from tests.support.servers import ServerAddress

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "credentials",
    "target_groups",
    "target_group_members",
    "jobs",
    "job_versions",
    "job_steps",
    "job_executions",
    "target_results",
    "target_outcomes",
    "target_messages",
    "target_attempts",
    "rerun_targets",
    "job_notifications",
    "notification_deliveries",
}


def _mssql_ddl(table: sa.Table) -> str:
    return str(CreateTable(table).compile(dialect=mssql.dialect()))


def test_every_table_compiles_for_sql_server() -> None:
    assert set(metadata.tables) == TABLES
    ddl = {name: _mssql_ddl(table) for name, table in metadata.tables.items()}
    for table in metadata.tables.values():
        for index in table.indexes:
            assert "CREATE INDEX" in str(CreateIndex(index).compile(dialect=mssql.dialect()))
    executions = ddl["job_executions"]
    assert "row_id BIGINT NOT NULL IDENTITY" in executions
    assert "job_execution_id UNIQUEIDENTIFIER NOT NULL" in executions
    assert "job_name NVARCHAR(128) NOT NULL" in executions
    assert "create_time DATETIME2(7) NOT NULL" in executions
    assert "last_message NVARCHAR(max)" in executions
    assert "is_active BIT NOT NULL" in executions
    assert "target_server_name NVARCHAR(256)" in executions
    assert (
        "CONSTRAINT uq_job_executions_job_execution_id_step_id_target_ordinal UNIQUE" in executions
    )
    steps = ddl["job_steps"]
    assert "command NVARCHAR(max) NOT NULL" in steps
    assert "retry_interval_backoff_multiplier FLOAT NOT NULL" in steps
    assert "PRIMARY KEY (job_id, job_version, step_id)" in steps
    assert "FOREIGN KEY(job_id, job_version) REFERENCES job_versions (job_id, job_version)" in steps
    assert "schedule_start_time DATETIME2(7) NOT NULL" in ddl["jobs"]
    assert "description NVARCHAR(512) NOT NULL" in ddl["jobs"]
    assert "secret_ciphertext VARCHAR(max)" in ddl["credentials"]
    assert "message_id BIGINT NOT NULL IDENTITY" in ddl["target_messages"]
    assert "row_id BIGINT NOT NULL" in ddl["target_results"]
    assert "IDENTITY" not in ddl["target_results"]


def test_sql_server_times_reach_year_one() -> None:
    # DATETIME would stop at 1753; Elastic Jobs' default schedule start is 0001-01-01.
    column = metadata.tables["jobs"].c.schedule_start_time
    compiled = column.type.dialect_impl(mssql.dialect()).compile(dialect=mssql.dialect())
    assert compiled == "DATETIME2(7)"


def _schema_differences(url: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            return [d for d in compare_metadata(context, metadata)]
    finally:
        engine.dispose()


def test_the_head_revision_the_store_checks_is_the_newest_migrations() -> None:
    """Starts skip Alembic for a database at ``HEAD_REVISION``: a new migration must move it."""
    assert head_revision() == HEAD_REVISION


def test_a_store_on_an_up_to_date_database_opens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    SqlJobStore(url).close()  # migrated
    code = (
        "import sys; from sqlfleet.store import SqlJobStore; "
        f"SqlJobStore({url!r}).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert answer.stdout.strip() == "[]", answer.stdout + answer.stderr


def test_migrations_build_the_schema_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    store = SqlJobStore(url)
    try:
        assert current_revision(store._db) == head_revision() == "0005_every_result"
    finally:
        store.close()
    assert _schema_differences(url) == []
    reopened = SqlJobStore(url)
    assert reopened.list_jobs() == []
    reopened.close()


def test_migrations_build_the_schema_on_an_empty_postgres_database(
    postgres_server: ServerAddress,
) -> None:
    database = create_postgres_database(postgres_server, "sqlfleet_migrate")
    try:
        store = SqlJobStore(database.url)
        try:
            assert current_revision(store._db) == head_revision()
            assert store.dialect_name == "postgresql"
        finally:
            store.close()
        assert _schema_differences(database.url) == []
        with database.connect() as connection:
            tables = {
                row[0]
                for row in connection.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            }
        assert tables == TABLES | {VERSION_TABLE}
    finally:
        drop_postgres_database(database)


def test_plain_postgresql_urls_use_psycopg(postgres_server: ServerAddress) -> None:
    database = create_postgres_database(postgres_server, "sqlfleet_url")
    try:
        url = f"postgresql://{postgres_server.user}@{postgres_server.host}:{postgres_server.port}/{database.name}"
        store = SqlJobStore(url)
        assert store.list_credentials() == []
        store.close()
    finally:
        drop_postgres_database(database)


def test_memory_store_is_shared_between_calls() -> None:
    store = SqlJobStore("sqlite://")
    from sqlfleet.models import JobIn

    store.put_job("j", JobIn())
    assert [job.name for job in store.list_jobs()] == ["j"]
    store.close()


def test_alembic_command_line_upgrades_head(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    env = {**os.environ, "SQLFLEET_JOB_DATABASE_URL": f"sqlite:///{database}"}
    alembic = [sys.executable, "-m", "alembic"]
    done = subprocess.run(
        [*alembic, "upgrade", "head"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    current = subprocess.run(
        [*alembic, "current"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "0005_every_result (head)" in current.stdout
    assert _schema_differences(f"sqlite:///{database}") == []


def test_unusable_url_names_the_setting() -> None:
    from sqlfleet.errors import SettingError

    with pytest.raises(SettingError) as raised:
        SqlJobStore("nosuchdialect://x")
    assert raised.value.setting == "SQLFLEET_JOB_DATABASE_URL"
