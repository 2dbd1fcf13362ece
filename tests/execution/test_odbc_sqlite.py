"""sqlfleet.odbc against SQLite files (a server is a folder), which it opens with Python's sqlite3
through sqlfleet.sqlitefiles. The host's settings allow this test's tmp_path
(SQLFLEET_SQLITE_ROOTS); tests/badinput/test_target_reach.py holds what SQLite targets cannot do.
"""

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

import pytest

from sqlfleet.dialects import OutputTable
from sqlfleet.odbc import TargetError, connect, list_databases, run_script, write_output
from sqlfleet.settings import reset_settings
from sqlfleet.signin import ConnectionAuth
from sqlfleet.targets import Target

NO_AUTH = ConnectionAuth()


@pytest.fixture(autouse=True)
def sqlite_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """This process's settings allow SQLite targets in the test's tmp_path only."""
    monkeypatch.setenv("SQLFLEET_SQLITE_ROOTS", str(tmp_path))
    monkeypatch.setenv("SQLFLEET_DATA_DIR", str(tmp_path.parent / f"{tmp_path.name}-data"))
    reset_settings()
    yield
    reset_settings()


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
    # a link to a file is a file (as for the scripts that open it); a dangling one is not
    (folder / "c.db").symlink_to(folder / "a.db")
    (folder / "gone.db").symlink_to(folder / "missing.db")
    (folder / ".hidden.db").touch()
    (folder / "upper.DB").touch()
    assert list_databases(member(folder), NO_AUTH) == [".hidden", "a", "b", "c"]
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


def test_error_and_missing_database(folder):
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"), NO_AUTH, "SELECT * FROM nope", timeout_seconds=30,
        max_rows=5,
    )  # fmt: skip
    assert outcome.error == "no such table: nope"
    assert outcome.sqlstate == "HY000"
    missing = Target("sqlite", str(folder), None, "ghost")
    outcome = run_script(missing, NO_AUTH, "SELECT 1", timeout_seconds=30, max_rows=5)
    assert "ghost.db' does not exist" in outcome.error
    assert not (folder / "ghost.db").exists()
    # A folder named like a database is no database either (opening it fails first).
    shelf = Target("sqlite", str(folder), None, "dir")
    outcome = run_script(shelf, NO_AUTH, "SELECT 1", timeout_seconds=30, max_rows=5)
    assert "dir.db' does not exist" in outcome.error
    assert outcome.sqlstate == "HY000"


def test_one_script_on_several_targets_keeps_each_targets_values_and_lines(folder):
    # A step's script is split once for all its targets; the values substituted per target
    # and the line of a failing statement stay each target's own.
    script = "SELECT '$(target_database_name)' AS db;\n\nSELECT * FROM only_in_b;"
    with closing(sqlite3.connect(folder / "b.db")) as connection:
        connection.execute("CREATE TABLE only_in_b (n INTEGER)")
    first_a, b, second_a = (
        run_script(
            Target("sqlite", str(folder), None, name),
            NO_AUTH,
            script,
            timeout_seconds=30,
            max_rows=5,
            variables={"target_database_name": name},
        )  # fmt: skip
        for name in ("a", "b", "a")
    )
    assert b.succeeded, b.error
    assert b.rows == [["b"]]
    for outcome in (first_a, second_a):
        assert outcome.rows == [["a"]]
        assert outcome.error == "no such table: only_in_b"
        assert outcome.error_line == 3


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


def test_a_locked_file_waits_until_the_step_timeout_or_a_cancel_not_longer(folder):
    target = Target("sqlite", str(folder), None, "a")
    holder_connection = sqlite3.connect(
        folder / "a.db", isolation_level=None, check_same_thread=False
    )
    with closing(holder_connection) as holder:
        holder.execute("CREATE TABLE t (x int)")
        holder.execute("BEGIN EXCLUSIVE")
        timed = run_script(target, NO_AUTH, "INSERT INTO t VALUES (1)", timeout_seconds=1.5,
                           max_rows=5)  # fmt: skip
        assert timed.timed_out and 1.4 <= timed.elapsed_seconds < 3, timed
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        canceled = run_script(target, NO_AUTH, "INSERT INTO t VALUES (2)", timeout_seconds=600,
                              max_rows=5, cancel=cancel)  # fmt: skip
        assert canceled.canceled and canceled.elapsed_seconds < 3, canceled
        # A lock that goes away in time only delays the script.
        threading.Timer(0.7, holder.execute, ["COMMIT"]).start()
        waited = run_script(target, NO_AUTH, "INSERT INTO t VALUES (3); SELECT x FROM t",
                            timeout_seconds=30, max_rows=5)  # fmt: skip
    assert waited.succeeded and waited.rows == [[3]], waited
    assert 0.6 <= waited.elapsed_seconds < 5


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
    """16,000 scripts on 32 threads, each with its own connection, all end. (Through the SQLite
    ODBC driver they crashed with SIGSEGV or hung inside libsqlite3odbc's SQLDriverConnect or
    SQLDisconnect about three times in four, unless connects and closes took turns.) The
    subprocess inherits this test's SQLFLEET_SQLITE_ROOTS."""
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


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer() would load native code"),
        ("SELECT load_extension('libm.so.6')", "load_extension() would load native code"),
        ("PRAGMA temp_store_directory = '/tmp'", "sets a folder of the whole host process"),
        ("PRAGMA trusted_schema = ON", "trusted_schema stays off"),
        ("ATTACH ':memory:' AS m", "ATTACH and VACUUM INTO open another file"),
        ("ATTACH 'file:a.db?mode=ro' AS m", "ATTACH and VACUUM INTO open another file"),
        ("DETACH main", "DETACH"),
    ],
)
def test_what_a_sqlite_script_may_not_do(folder, script, reason):
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"), NO_AUTH, script, timeout_seconds=30, max_rows=5
    )
    assert not outcome.succeeded
    assert outcome.error.startswith("not authorized") and reason in outcome.error, outcome.error


def test_what_a_sqlite_script_may_still_do(folder):
    before = sorted(p.name for p in folder.iterdir())
    script = (
        "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); "
        "CREATE TRIGGER up AFTER INSERT ON t BEGIN UPDATE t SET n = n + 1; END; "
        "INSERT INTO t VALUES (1); VACUUM; ATTACH '' AS scratch; PRAGMA trusted_schema; "
        "SELECT n FROM t"
    )
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"), NO_AUTH, script, timeout_seconds=30, max_rows=5
    )
    assert outcome.succeeded, outcome.error
    assert outcome.rows == [["wal"]]  # the first result set
    with closing(sqlite3.connect(folder / "a.db")) as check:
        assert check.execute("SELECT n FROM t").fetchall() == [(2,)]
    assert sorted(p.name for p in folder.iterdir()) == before  # WAL files go with the close


def test_sqlite_values_and_their_kinds(folder):
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"),
        NO_AUTH,
        "SELECT 1 AS i, 1.5 AS f, 'x' AS t, x'00ff' AS b, NULL AS z "
        "UNION ALL SELECT 2, 2, 3, 'text', NULL",
        timeout_seconds=30,
        max_rows=5,
    )
    assert outcome.succeeded, outcome.error
    assert [(c.name, c.kind) for c in outcome.columns] == [
        ("i", "integer"), ("f", "float"), ("t", "text"), ("b", "text"), ("z", "text"),
    ]  # fmt: skip
    assert outcome.rows == [[1, 1.5, "x", "0x00FF", None], [2, 2, "3", "text", None]]


def test_sqlite_files_only_under_the_roots(folder, tmp_path, monkeypatch):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "x.db").touch()
    (folder / "escape.db").symlink_to(outside / "x.db")
    for target in (
        Target("sqlite", str(outside), None, "x"),
        Target("sqlite", str(folder), None, "escape"),
    ):
        outcome = run_script(
            target, NO_AUTH, "CREATE TABLE pwned (v)", timeout_seconds=30, max_rows=5
        )
        assert "SQLite folders must lie under SQLFLEET_SQLITE_ROOTS" in outcome.error, outcome.error
        assert "nothing was opened" in outcome.error and outcome.sqlstate == "28000"
    assert (outside / "x.db").stat().st_size == 0
    with pytest.raises(TargetError) as refused:
        list_databases(member(outside), NO_AUTH)
    assert "SQLFLEET_SQLITE_ROOTS" in refused.value.message
    # A job database kept under a root is out of reach with its whole folder.
    monkeypatch.setenv("SQLFLEET_JOB_DATABASE_URL", f"sqlite:///{folder / 'b.db'}")
    reset_settings()
    outcome = run_script(
        Target("sqlite", str(folder), None, "a"),
        NO_AUTH,
        "SELECT 1",
        timeout_seconds=30,
        max_rows=5,
    )
    assert "the job database's folder (SQLFLEET_JOB_DATABASE_URL)" in outcome.error
