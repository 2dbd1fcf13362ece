"""sqlfleet.odbc against a real MariaDB through MariaDB Connector/ODBC."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pyodbc
import pytest

from sqlfleet.dialects import OutputTable
from sqlfleet.odbc import list_databases as list_server_databases
from sqlfleet.odbc import run_script, write_output
from sqlfleet.signin import ConnectionAuth
from sqlfleet.targets import Target
from tests.support.servers import wait_until

pytestmark = pytest.mark.mariadb


def admin(server):
    text = (
        f"Driver={{MariaDB Unicode}};Server={server.host};Port={server.port};"
        f"UID={server.user};PWD={{{server.password}}}"
    )
    return pyodbc.connect(text, autocommit=True)


def rows_of(server, query, *params):
    connection = admin(server)
    try:
        return [tuple(r) for r in connection.cursor().execute(query, *params).fetchall()]
    finally:
        connection.close()


@pytest.fixture
def database(mariadb_server):
    name = f"sqlfleet_exec_{uuid.uuid4().hex[:10]}"
    connection = admin(mariadb_server)
    connection.cursor().execute(f"CREATE DATABASE `{name}`")
    connection.close()
    yield name
    connection = admin(mariadb_server)
    connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    connection.close()


@pytest.fixture
def auth(mariadb_server):
    return ConnectionAuth(user=mariadb_server.user, password=mariadb_server.password)


def target(server, database):
    return Target("mysql", server.host, server.port, database)


def test_list_databases_without_system_schemas(mariadb_server, database, auth):
    member = SimpleNamespace(
        target_type="server",
        engine="mysql",
        server_name=mariadb_server.host,
        port=mariadb_server.port,
        elastic_pool_name=None,
    )
    found = list_server_databases(member, auth)
    assert database in found
    assert not {"information_schema", "mysql", "performance_schema", "sys"} & set(found)


def test_multi_statement_script_with_result_set_and_warnings(mariadb_server, database, auth):
    script = (
        "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2), (3);\n"
        "SELECT n, CAST(n * 1.5 AS DECIMAL(5,2)) AS half, CONCAT('row ', n) AS label, "
        "'$(job_name)' AS job FROM t ORDER BY n;\n"
        "SELECT 1 / 0 AS z"
    )
    outcome = run_script(
        target(mariadb_server, database),
        auth,
        script,
        timeout_seconds=30,
        max_rows=10,
        variables={"job_name": "nightly"},
    )
    assert outcome.succeeded, outcome.error
    assert [c.name for c in outcome.columns] == ["n", "half", "label", "job"]
    assert outcome.rows == [
        [1, "1.50", "row 1", "nightly"],
        [2, "3.00", "row 2", "nightly"],
        [3, "4.50", "row 3", "nightly"],
    ]
    assert outcome.truncated is False
    assert "Warning 1365: Division by 0" in outcome.messages


def test_error_carries_the_driver_message(mariadb_server, database, auth):
    outcome = run_script(
        target(mariadb_server, database),
        auth,
        "SELECT * FROM missing_table",
        timeout_seconds=30,
        max_rows=10,
    )
    assert outcome.sqlstate == "42S02"
    assert outcome.error.startswith(f"Table '{database}.missing_table' doesn't exist")


def test_timeout_kills_the_query(mariadb_server, database, auth):
    marker = f"sqlfleet_timeout_{uuid.uuid4().hex}"
    outcome = run_script(
        target(mariadb_server, database),
        auth,
        f"SELECT SLEEP(60) /* {marker} */",
        timeout_seconds=1,
        max_rows=10,
    )
    assert outcome.timed_out and outcome.elapsed_seconds < 10

    def gone():
        running = rows_of(
            mariadb_server,
            "SELECT id FROM information_schema.processlist "
            "WHERE info LIKE ? AND id <> CONNECTION_ID()",
            f"%{marker}%",
        )
        return not running

    wait_until(gone, timeout=10, message="the cancelled query to leave the processlist")


def test_output_table_created_and_written(mariadb_server, database, auth):
    outcome = run_script(
        target(mariadb_server, database),
        auth,
        "SELECT 1 AS n, 'x' AS label, CAST('2024-01-02 03:04:05' AS DATETIME) AS at "
        "UNION ALL SELECT 2, 'y', CAST('2024-01-03 00:00:00' AS DATETIME)",
        timeout_seconds=30,
        max_rows=10,
    )
    assert outcome.succeeded, outcome.error
    marker = uuid.uuid4()
    table = OutputTable("results")
    output = target(mariadb_server, database)
    assert write_output(output, auth, table, outcome.columns, outcome.rows, marker) == 2
    assert write_output(output, auth, table, outcome.columns, [], uuid.uuid4()) == 0
    written = rows_of(
        mariadb_server,
        f"SELECT n, label, at, internal_execution_id FROM `{database}`.`results` ORDER BY n",
    )
    assert [(r[0], r[1], str(r[2]), r[3]) for r in written] == [
        (1, "x", "2024-01-02 03:04:05", str(marker)),
        (2, "y", "2024-01-03 00:00:00", str(marker)),
    ]
    indexes = rows_of(
        mariadb_server,
        "SELECT index_name, column_name FROM information_schema.statistics "
        "WHERE table_schema = ? AND table_name = 'results'",
        database,
    )
    assert indexes == [("IX_results_Internal_Execution_ID", "internal_execution_id")]
