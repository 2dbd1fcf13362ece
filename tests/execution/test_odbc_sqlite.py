"""sqlfleet.odbc against SQLite files through the SQLite3 ODBC driver (a server is a folder)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pyodbc
import pytest

from sqlfleet.engines import OutputTable
from sqlfleet.odbc import TargetError, connect, list_databases, run_script, write_output
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


@pytest.mark.parametrize(
    ("rows", "max_rows", "kept", "truncated"),
    [
        (1200, 5000, 1200, False),
        (1000, 1000, 1000, False),
        (1001, 1000, 1000, True),
        (0, 10, 0, False),
    ],
)
def test_the_first_result_set_is_read_to_its_end_or_to_the_bound(
    folder, rows, max_rows, kept, truncated
):
    # Rows come in fetches of 500: a short fetch is the end, a full one asks again.
    script = (
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 5000) "
        f"SELECT n FROM c WHERE n <= {int(rows)}"
    )
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"), NO_AUTH, script, timeout_seconds=30,
        max_rows=max_rows,
    )  # fmt: skip
    assert outcome.succeeded, outcome.error
    assert [row[0] for row in outcome.rows] == list(range(1, kept + 1))
    assert outcome.truncated is truncated


def test_the_odbc_installer_library_stays_loaded_after_a_connection_closes(folder):
    # The SQLite driver loads it on connect and unloads it when the connection is freed,
    # unless someone holds it: sqlfleet.odbc does (importing it above is enough), so that
    # connections do not map and unmap it each time.
    connection = pyodbc.connect(
        f"Driver={{SQLite3}};Database={folder / 'a.db'};NoCreat=1", autocommit=True
    )
    connection.close()
    del connection
    assert "libodbcinst.so" in Path("/proc/self/maps").read_text()


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
    with connect(Target("sqlite", str(folder), None, "b"), NO_AUTH) as connection:
        assert connection.cursor().execute("SELECT 41 + 1").fetchone()[0] == 42


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
    with closing(sqlite3.connect(folder / "b.db")) as db:
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


RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def test_cancel_event_interrupts_a_runaway_query(folder):
    cancel = threading.Event()
    # Set while the query runs (or even before it starts): either way it must stop early.
    threading.Timer(0.3, cancel.set).start()
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"),
        NO_AUTH,
        RUNAWAY,
        timeout_seconds=60,
        max_rows=5,
        cancel=cancel,
    )
    assert outcome.canceled and not outcome.timed_out
    assert outcome.error == "the script was cancelled: the execution was cancelled"
    assert outcome.elapsed_seconds < 5


def test_concurrent_statements_time_out_at_their_own_deadlines(folder):
    """One watchdog thread serves every statement: a later, shorter timeout must still fire
    first, and a quick statement beside them is left alone."""
    timeouts = [3.0, 2.0, 1.0]
    with ThreadPoolExecutor(len(timeouts) + 1) as pool:
        runaways = [
            pool.submit(
                run_script,
                Target("sqlite", str(folder), None, "a"),
                NO_AUTH,
                RUNAWAY,
                timeout_seconds=seconds,
                max_rows=5,
            )
            for seconds in timeouts
        ]
        quick = pool.submit(
            run_script,
            Target("sqlite", str(folder), None, "b"),
            NO_AUTH,
            "SELECT 7",
            timeout_seconds=2,
            max_rows=5,
        )
        outcomes = [future.result(timeout=30) for future in runaways]
        assert quick.result(timeout=30).rows == [[7]]
    for seconds, outcome in zip(timeouts, outcomes, strict=True):
        assert outcome.timed_out, outcome.error
        assert seconds - 0.05 <= outcome.elapsed_seconds < seconds + 1.5, (seconds, outcome)


HAMMER = """
import sys, threading
from concurrent.futures import ThreadPoolExecutor
from sqlfleet.odbc import run_script
from sqlfleet.signin import ConnectionAuth
from sqlfleet.targets import Target

folder, runs = sys.argv[1], int(sys.argv[2])
targets = [Target("sqlite", folder, None, f"db{i}") for i in range(64)]

def one(index):
    outcome = run_script(targets[index % 64], ConnectionAuth(), "SELECT 1", timeout_seconds=60,
                         max_rows=5)
    assert outcome.rows == [[1]], outcome.error

with ThreadPoolExecutor(32) as pool:
    list(pool.map(one, range(runs)))
print("ok", runs)
"""


@pytest.mark.reliability
def test_concurrent_connects_and_closes_do_not_crash_the_driver(tmp_path: Path) -> None:
    """Without the driver's turns, 16,000 scripts on 32 threads crash (SIGSEGV) or hang inside
    libsqlite3odbc's SQLDriverConnect/SQLDisconnect about three times in four."""
    for index in range(64):
        (tmp_path / f"db{index}.db").touch()
    runs = 16_000
    done = subprocess.run(
        [sys.executable, "-c", HAMMER, str(tmp_path), str(runs)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"ok {runs}"), done.stderr[-2000:]
