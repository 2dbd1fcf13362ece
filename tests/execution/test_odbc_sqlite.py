"""activities.odbc against SQLite files through the SQLite3 ODBC driver (a server is a folder)."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from activities.odbc import TargetError, connect, list_databases, run_script, write_output
from sqlfleet.engines import OutputTable
from sqlfleet.signin import ConnectionAuth
from sqlfleet.targets import Target

NO_AUTH = ConnectionAuth()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for name in ("b.db", "a.db"):
        (fleet / name).touch()  # an empty file is an empty SQLite database
    (fleet / "notes.txt").write_text("not a database")
    (fleet / "dir.db").mkdir()
    return fleet


def member(folder: Path):
    return SimpleNamespace(
        target_type="server", engine="sqlite", server_name=str(folder), port=None,
        elastic_pool_name=None,
    )  # fmt: skip


def test_list_databases_is_the_db_files_of_the_folder(folder):
    assert list_databases(member(folder), NO_AUTH) == ["a", "b"]
    with pytest.raises(TargetError) as caught:
        list_databases(member(folder / "missing"), NO_AUTH)
    assert "does not exist" in caught.value.message


def test_script_statements_result_set_and_variables(folder):
    script = (
        "CREATE TABLE t (n INTEGER, s TEXT);\n"
        "INSERT INTO t VALUES (1, 'x;y'), (2, 'z');\n"
        "SELECT n, s, '$(target_database_name)' AS db FROM t ORDER BY n;\n"
        "SELECT 'second';"
    )
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"),
        NO_AUTH,
        script,
        timeout_seconds=30,
        max_rows=1,
        variables={"target_database_name": "a"},
    )
    assert outcome.succeeded, outcome.error
    assert [c.name for c in outcome.columns] == ["n", "s", "db"]
    assert outcome.rows == [[1, "x;y", "a"]]
    assert outcome.truncated
    assert outcome.rowcount == 2
    assert outcome.messages == []


def test_error_and_missing_database(folder):
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"), NO_AUTH, "SELECT * FROM nope", timeout_seconds=30,
        max_rows=5,
    )  # fmt: skip
    assert outcome.error == "no such table: nope (1) (1)"
    missing = Target("sqlite", str(folder), None, "ghost")
    outcome = run_script(missing, NO_AUTH, "SELECT 1", timeout_seconds=30, max_rows=5)
    assert "ghost.db' does not exist" in outcome.error
    assert not (folder / "ghost.db").exists()


def test_timeout_interrupts_a_runaway_query(folder):
    runaway = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    )
    outcome = run_script(
        Target("sqlite", str(folder), None, "b"), NO_AUTH, runaway, timeout_seconds=1, max_rows=5
    )
    assert outcome.timed_out
    assert 0.9 <= outcome.elapsed_seconds < 5
    # The connection was left usable by the cancel, and closed: the file is not locked.
    connection = connect(Target("sqlite", str(folder), None, "b"), NO_AUTH)
    assert connection.cursor().execute("SELECT 41 + 1").fetchone()[0] == 42
    connection.close()


def test_output_table_created_and_written(folder):
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"),
        NO_AUTH,
        "SELECT 1 AS n, 'x' AS label, x'00ff' AS raw UNION ALL SELECT 2, NULL, NULL",
        timeout_seconds=30,
        max_rows=10,
    )
    assert outcome.succeeded, outcome.error
    assert outcome.rows == [[1, "x", "0x00FF"], [2, None, None]]
    marker = uuid.uuid4()
    table = OutputTable("results")
    out = Target("sqlite", str(folder), None, "b.db")
    assert write_output(out, NO_AUTH, table, outcome.columns, outcome.rows, marker) == 2
    assert write_output(out, NO_AUTH, table, outcome.columns, outcome.rows[:1], "other") == 1
    with sqlite3.connect(folder / "b.db") as db:
        rows = db.execute(
            "SELECT n, label, raw, internal_execution_id FROM results ORDER BY rowid"
        ).fetchall()
        index = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'results'"
        ).fetchall()
    assert rows == [
        (1, "x", b"\x00\xff", str(marker)),
        (2, None, None, str(marker)),
        (1, "x", b"\x00\xff", "other"),
    ]
    assert index == [("IX_results_Internal_Execution_ID",)]
