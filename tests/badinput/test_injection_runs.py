"""Hostile names that the API stores verbatim are quoted safely when a job really runs.

A job runs ``SELECT 7 AS seven`` on a database whose name holds quotes, ``--``, ``]`` and more,
on real PostgreSQL (psycopg), MariaDB (ODBC) and SQLite servers, and sends its result set to an
output table (in a schema) whose names attack too. Afterwards the target holds exactly what it
held before plus the intended, correctly named output table (and its index): no table dropped,
no other object made.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.jobs.fleet import SECRET, MariaDbFleet, PostgresFleet, step, unique
from tests.jobs.host import JobsHost
from tests.support.servers import ServerAddress

SELECT = "SELECT 7 AS seven"


def hostile(prefix: str) -> str:
    return f"{prefix}\"q'--]{uuid.uuid4().hex[:8]}"


def put(host: JobsHost, kind: str, name: str, body: dict[str, Any]) -> None:
    host.ok("PUT", f"/api/{kind}/{quote(name, safe='')}", body)


def run_job(host: JobsHost, group: str, output: dict[str, Any], credential: str | None) -> Any:
    job = unique("injection")
    fields = {"credential_name": credential} if credential else {}
    put(host, "jobs", job, {"steps": [step("attack", SELECT, group, output=output, **fields)]})
    execution = host.run_job(job, timeout=90)
    targets = host.targets(execution["job_execution_id"])
    return execution, targets


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(postgres_server: ServerAddress, badinput_host: JobsHost) -> Iterator[PostgresFleet]:
    fleet = PostgresFleet(postgres_server, unique("badinput_login"))
    fleet.create_role()
    put(badinput_host, "credentials", "pg-injection", _password_credential(fleet.role))
    try:
        yield fleet
    finally:
        fleet.drop_all()
        fleet.drop_role()


def _password_credential(user: str) -> dict[str, Any]:
    return {"kind": "password", "username": user, "password": SECRET}


def _pg_relations(pg: PostgresFleet, database: str) -> set[tuple[str, str, str]]:
    return set(
        pg.rows(
            database,
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND left(n.nspname, 8) <> 'pg_toast'",
        )
    )


@pytest.mark.postgres
def test_postgresql_quotes_hostile_database_schema_and_table_names(
    badinput_host: JobsHost, pg: PostgresFleet
) -> None:
    database = pg.create_database(hostile("bi"))
    schema = f"s\"'; DROP TABLE keep; --]{uuid.uuid4().hex[:6]}"
    table = f"out\"; DROP TABLE public.keep; --'] {uuid.uuid4().hex[:6]}"
    with pg.admin(database) as connection:
        connection.execute("SET ROLE " + '"' + pg.role.replace('"', '""') + '"')
        connection.execute("CREATE TABLE keep (id int)")
        connection.execute("INSERT INTO keep VALUES (1)")
        connection.execute('CREATE SCHEMA "' + schema.replace('"', '""') + '"')
    before = _pg_relations(pg, database)
    group = unique("pg-hostile")
    put(badinput_host, "target-groups", group, {"members": [pg.database_member(database)]})
    output = {
        "engine": "postgresql",
        "server_name": pg.address.host,
        "port": pg.address.port,
        "database_name": database,
        "schema_name": schema,
        "table_name": table,
        "credential_name": "pg-injection",
    }

    execution, targets = run_job(badinput_host, group, output, "pg-injection")

    assert execution["lifecycle"] == "Succeeded", (execution, targets)
    assert [t["target_database_name"] for t in targets] == [database]
    after = _pg_relations(pg, database)
    assert before <= after, f"objects disappeared: {before - after}"
    added = after - before
    assert {(n, r) for n, r, kind in added if kind == "r"} == {(schema, table)}, added
    assert {kind for _, _, kind in added} <= {"r", "i"}, added
    assert all(namespace == schema for namespace, _, _ in added), added
    assert pg.rows(database, "SELECT id FROM public.keep") == [(1,)]
    quoted = '"' + schema.replace('"', '""') + '"."' + table.replace('"', '""') + '"'
    assert pg.rows(database, f"SELECT seven FROM {quoted}") == [(7,)]


@pytest.mark.postgres
def test_postgresql_database_name_with_semicolons_runs_on_that_database_only(
    badinput_host: JobsHost, pg: PostgresFleet
) -> None:
    """libpq (psycopg) carries ';' in a database name, which psqlODBC could not: the job runs
    on exactly that database, and '%', '?' and '$1' in the output table's name stay a name."""
    database = pg.create_database(hostile("bi;DROP DATABASE postgres;"))
    before = _pg_relations(pg, database)
    group = unique("pg-semicolon")
    put(badinput_host, "target-groups", group, {"members": [pg.database_member(database)]})
    table = "out %s ? $1 %%"
    output = {
        "engine": "postgresql",
        "server_name": pg.address.host,
        "port": pg.address.port,
        "database_name": database,
        "table_name": table,
        "credential_name": "pg-injection",
    }

    execution, targets = run_job(badinput_host, group, output, "pg-injection")

    assert execution["lifecycle"] == "Succeeded", (execution, targets)
    assert [t["target_database_name"] for t in targets] == [database]
    added = _pg_relations(pg, database) - before
    assert {(n, r) for n, r, kind in added if kind == "r"} == {("public", table)}, added
    # pg.rows binds parameters, so its own '%' must be doubled.
    assert pg.rows(database, 'SELECT seven FROM public."out %%s ? $1 %%%%"') == [(7,)]
    assert pg.rows("postgres", "SELECT 1 FROM pg_database WHERE datname = 'postgres'") == [(1,)]


# --- MariaDB -------------------------------------------------------------------------------


def _backticks(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@pytest.fixture(scope="module")
def mariadb(mariadb_server: ServerAddress, badinput_host: JobsHost) -> Iterator[MariaDbFleet]:
    fleet = MariaDbFleet(mariadb_server, unique("badinput_login"))
    fleet.create_user()
    put(badinput_host, "credentials", "mariadb-injection", _password_credential(fleet.user))
    try:
        yield fleet
    finally:
        for name in fleet.databases:
            fleet.execute(f"DROP DATABASE IF EXISTS {_backticks(name)}")
        fleet.drop_user()


@pytest.mark.mariadb
def test_mariadb_quotes_hostile_database_and_table_names(
    badinput_host: JobsHost, mariadb: MariaDbFleet
) -> None:
    database = hostile("bi`;")
    table = f"out`\"; DROP TABLE keep; --'] {uuid.uuid4().hex[:6]}"
    mariadb.execute(f"CREATE DATABASE {_backticks(database)}")
    mariadb.databases.append(database)
    mariadb.execute(f"GRANT ALL PRIVILEGES ON {_backticks(database)}.* TO `{mariadb.user}`@'%'")
    mariadb.execute(f"CREATE TABLE {_backticks(database)}.keep (id int)")
    mariadb.execute(f"INSERT INTO {_backticks(database)}.keep VALUES (1)")
    databases_before = {row[0] for row in mariadb.execute("SHOW DATABASES")}
    group = unique("mariadb-hostile")
    put(badinput_host, "target-groups", group, {"members": [mariadb.database_member(database)]})
    output = {
        "engine": "mysql",
        "server_name": mariadb.address.host,
        "port": mariadb.address.port,
        "database_name": database,
        "table_name": table,
        "credential_name": "mariadb-injection",
    }

    execution, targets = run_job(badinput_host, group, output, "mariadb-injection")

    assert execution["lifecycle"] == "Succeeded", (execution, targets)
    assert mariadb.tables(database) == {"keep", table}
    assert {row[0] for row in mariadb.execute("SHOW DATABASES")} == databases_before
    assert mariadb.execute(f"SELECT id FROM {_backticks(database)}.keep") == [(1,)]
    rows = mariadb.execute(f"SELECT seven FROM {_backticks(database)}.{_backticks(table)}")
    assert rows == [(7,)]


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_objects(path: Path) -> set[tuple[str, str, str]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return set(connection.execute("SELECT type, name, tbl_name FROM sqlite_master"))
    finally:
        connection.close()


def test_sqlite_quotes_hostile_file_and_table_names(
    badinput_host: JobsHost, tmp_path: Path
) -> None:
    folder = tmp_path / "servers"
    folder.mkdir()
    database = hostile("bi")
    table = f"out\"; DROP TABLE keep; --'] {uuid.uuid4().hex[:6]}"
    path = folder / f"{database}.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE keep (id int)")
    connection.execute("INSERT INTO keep VALUES (1)")
    connection.commit()
    connection.close()
    before = _sqlite_objects(path)
    group = unique("sqlite-hostile")
    member = {
        "target_type": "database",
        "engine": "sqlite",
        "server_name": str(folder),
        "database_name": database,
    }
    put(badinput_host, "target-groups", group, {"members": [member]})
    output = {
        "engine": "sqlite",
        "server_name": str(folder),
        "database_name": database,
        "table_name": table,
    }

    execution, targets = run_job(badinput_host, group, output, None)

    assert execution["lifecycle"] == "Succeeded", (execution, targets)
    after = _sqlite_objects(path)
    assert before <= after
    added = after - before
    assert {(kind, name) for kind, name, _ in added if kind == "table"} == {("table", table)}
    assert {(kind, owner) for kind, _, owner in added} <= {("table", table), ("index", table)}
    assert sorted(p.name for p in folder.iterdir()) == [f"{database}.db"]
    check = sqlite3.connect(path)
    try:
        assert check.execute("SELECT id FROM keep").fetchall() == [(1,)]
        quoted = '"' + table.replace('"', '""') + '"'
        assert check.execute(f"SELECT seven FROM {quoted}").fetchall() == [(7,)]
    finally:
        check.close()
