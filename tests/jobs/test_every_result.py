"""Every result of a target (issue 16 §3): every result set, the row counts of DML, messages
with their severity and number, and a failure's SQLSTATE, error number and line; the output
table takes the result set the step names. On PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.jobs.conftest import MARIADB_CREDENTIAL, PG_CREDENTIAL
from tests.jobs.fleet import MariaDbFleet, PostgresFleet, sqlite_folder_member, step, unique
from tests.jobs.host import JobsHost


def _run(
    host: JobsHost, member: dict[str, Any], steps: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Run the steps on one target; each step's output document, by step name."""
    group = unique("group")
    host.ok("PUT", f"/api/target-groups/{group}", {"members": [member]})
    job = unique("results")
    host.put_job(job, [{**s, "target_group_name": group, "on_failure": "continue"} for s in steps])
    execution = host.run_job(job, timeout=60)
    items = host.ok("GET", f"/api/executions/{execution['job_execution_id']}/output")["items"]
    return {item["target"]["step_name"]: item for item in items}


def _sets(item: dict[str, Any]) -> list[tuple[list[str], list[list[Any]]]]:
    return [([c["name"] for c in r["columns"]], r["rows"]) for r in item["result_sets"]]


def test_postgresql_keeps_every_result_set_the_notice_and_row_counts(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("results")
    credential = {"credential_name": PG_CREDENTIAL}
    outputs = _run(
        jobs_host,
        pg.database_member(database),
        [
            step(
                "notice",
                "DO $$ BEGIN RAISE NOTICE 'hello'; END $$; SELECT pg_sleep(0.1); "
                "SELECT current_database(), 42",
                "",
                **credential,
            ),
            step(
                "dml",
                "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2), (3); "
                "UPDATE t SET a = a + 1 WHERE a > 1",
                "",
                **credential,
            ),
            step("broken", "SELECT 1;\nSELECT * FROM no_such_table", "", **credential),
        ],
    )
    notice = outputs["notice"]
    assert _sets(notice) == [
        (["pg_sleep"], [[""]]),
        (["current_database", "?column?"], [[database, 42]]),
    ]
    assert notice["result"]["columns"][0]["name"] == "pg_sleep"  # the first, as before
    assert [m["message"] for m in notice["messages"]] == ["NOTICE: hello"]
    assert notice["message_details"][0]["severity"] == "NOTICE"
    assert outputs["dml"]["affected_rows"][-2:] == [3, 2]
    error = outputs["broken"]["error"]
    assert error["sqlstate"] == "42P01" and 'relation "no_such_table"' in error["message"]
    assert error["error_class"] == "permanent"
    assert error["number"] is None  # PostgreSQL errors have SQLSTATEs, no numbers
    assert error["line"] == 2  # where the server's position points


def test_mariadb_multi_statement_script_and_its_error_line(
    jobs_host: JobsHost, mariadb: MariaDbFleet
) -> None:
    database = mariadb.create_database(unique("results"))
    credential = {"credential_name": MARIADB_CREDENTIAL}
    outputs = _run(
        jobs_host,
        mariadb.database_member(database),
        [
            step(
                "sets",
                "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2); "
                "SELECT a FROM t ORDER BY a; SELECT 2 AS b, 3 AS c",
                "",
                **credential,
            ),
            step("broken", "SELECT 1;\nSELECT 2;\nSELEC 3", "", **credential),
        ],
    )
    assert _sets(outputs["sets"]) == [(["a"], [[1], [2]]), (["b", "c"], [[2, 3]])]
    assert 2 in outputs["sets"]["affected_rows"]
    error = outputs["broken"]["error"]
    assert (error["number"], error["sqlstate"], error["line"]) == (1064, "42000", 3)


def test_sqlite_script_results_and_the_output_table_takes_the_named_set(
    jobs_host: JobsHost, tmp_path: Path
) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    sqlite3.connect(folder / "one.db").close()
    sink = tmp_path / "sink"
    sink.mkdir()
    sqlite3.connect(sink / "out.db").close()
    output = {
        "engine": "sqlite",
        "server_name": str(sink),
        "database_name": "out",
        "table_name": "counts",
        "result_set": 1,
    }
    script = (
        "CREATE TABLE t (a integer);\nINSERT INTO t VALUES (1), (2);\n"
        "SELECT a FROM t ORDER BY a;\nSELECT count(*) AS n FROM t"
    )
    outputs = _run(
        jobs_host,
        sqlite_folder_member(folder),
        [
            step("sets", script, "", output=output),
            step("broken", "SELECT 1;\nSELECT * FROM no_such_table", "", output=None),
        ],
    )
    assert _sets(outputs["sets"]) == [(["a"], [[1], [2]]), (["n"], [[2]])]
    assert outputs["sets"]["affected_rows"] == [2]
    with contextlib.closing(sqlite3.connect(sink / "out.db")) as connection:
        assert connection.execute("SELECT n FROM counts").fetchall() == [(2,)]
    error = outputs["broken"]["error"]
    assert (error["number"], error["line"]) == (1, 2)
    assert "no such table" in error["message"]
