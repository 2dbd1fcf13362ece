"""sqlfleet.scriptprocesses: SQLite scripts in child processes, with cancels, crashes and a
parent that dies."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from sqlfleet.scriptprocesses import NICENESS, ScriptCall, ScriptProcessEnded, ScriptProcesses
from sqlfleet.signin import ConnectionAuth
from sqlfleet.sqlitefolders import SqliteFolders
from sqlfleet.targets import Target
from tests.support.servers import wait_until

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
DEADLINE_SECONDS = 30


def wait_for(check: Callable[[], bool], what: str) -> None:
    wait_until(check, DEADLINE_SECONDS, interval=0.02, message=what)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def call(folder: Path, database: str, script: str, timeout: float = 60) -> ScriptCall:
    return ScriptCall(
        target=Target("sqlite", str(folder), None, database),
        auth=ConnectionAuth(),
        script=script,
        timeout_seconds=timeout,
        max_rows=10,
        variables={"name": database},
        driver=None,
        # What the parent allows travels with the call: the child's own settings allow none.
        sqlite_folders=SqliteFolders(roots=(folder,)),
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.db").touch()
    return tmp_path


@pytest.fixture
def processes() -> Iterator[ScriptProcesses]:
    pool = ScriptProcesses(processes=1, threads=2)
    wait_for(pool.ready, "a ready script process")
    yield pool
    pool.close()


def test_scripts_run_in_a_child_and_their_outcomes_come_back(folder, processes):
    calls = [
        call(folder, name, "CREATE TABLE t (v text); INSERT INTO t VALUES ('$(name)');"
             "SELECT v FROM t")
        for name in ("a", "b", "c")
    ]  # fmt: skip
    runs = processes.run(calls, threading.Event())
    assert [run.outcome.rows for run in runs] == [[["a"]], [["b"]], [["c"]]]
    assert all(run.started <= run.ended for run in runs)
    for name in ("a", "b", "c"):
        with closing(sqlite3.connect(folder / f"{name}.db")) as db:
            assert db.execute("SELECT v FROM t").fetchall() == [(name,)]
    [pid] = processes.pids()
    assert pid != os.getpid()


SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
    "SELECT count(*) FROM c"
)


def test_a_request_runs_side_by_side_on_idle_threads_and_in_turn_on_busy_ones(folder, processes):
    """The child has 2 threads: idle, a request of three takes both (the third call waits for
    one of the first two); with one held by another request, a request of two runs its
    calls one after the other."""
    runs = processes.run([call(folder, name, SLOW) for name in ("a", "b", "c")], threading.Event())
    assert [run.outcome.rows for run in runs] == [[[2000000]]] * 3
    first, second, third = runs
    assert second.started < first.ended and first.started < second.ended  # side by side
    assert third.started >= min(first.ended, second.ended)
    holding = threading.Event()
    held = threading.Thread(
        target=processes.run, args=([call(folder, "c", RUNAWAY)], holding), daemon=True
    )
    held.start()
    try:
        wait_for(lambda: processes.held() >= 1, "the runaway request to be taken")
        runs = processes.run([call(folder, name, SLOW) for name in ("a", "b")], threading.Event())
        assert runs[0].ended <= runs[1].started  # no idle thread: in turn
    finally:
        holding.set()
        held.join(DEADLINE_SECONDS)


def test_errors_and_timeouts_come_back_as_outcomes(folder, processes):
    runs = processes.run(
        [call(folder, "a", "SELECT * FROM missing"), call(folder, "b", RUNAWAY, timeout=0.3)],
        threading.Event(),
    )
    assert "no such table: missing" in runs[0].outcome.error
    assert runs[1].outcome.timed_out and not runs[1].outcome.canceled


def test_a_cancel_stops_the_running_scripts_and_skips_the_rest(folder, processes):
    """Both threads of the child run a script when the cancel comes; the third never ran."""
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    runs = processes.run(
        [call(folder, "a", RUNAWAY), call(folder, "b", RUNAWAY),
         call(folder, "c", "CREATE TABLE t (v text)")],
        cancel,
    )  # fmt: skip
    assert time.monotonic() - started < 10
    assert runs[0].outcome.canceled and runs[1].outcome.canceled
    assert runs[2].outcome is None  # never ran
    with closing(sqlite3.connect(folder / "c.db")) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_a_child_that_dies_fails_its_request_and_is_replaced(folder, processes):
    [pid] = processes.pids()
    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(ScriptProcessEnded) as raised:
        processes.run([call(folder, "a", RUNAWAY)], threading.Event())
    assert f"script process {pid} ended (exit status -9)" in str(raised.value)
    wait_for(processes.ready, "a new script process")
    assert processes.pids() != [pid]
    runs = processes.run([call(folder, "b", "SELECT 7")], threading.Event())
    assert runs[0].outcome.rows == [[7]]


def test_children_exit_when_their_parent_is_killed(folder):
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, threading, time
                from sqlfleet.scriptprocesses import ScriptProcesses
                pool = ScriptProcesses(processes=2, threads=1)
                while not pool.ready() or len(pool.pids()) < 2:
                    time.sleep(0.02)
                print(*pool.pids(), flush=True)
                threading.Event().wait()
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    with parent:
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(children) == 2 and all(alive(pid) for pid in children)
        parent.kill()
    wait_for(lambda: not any(alive(pid) for pid in children), "the orphaned children to exit")


def test_a_child_that_grew_too_big_answers_then_is_retired_and_replaced(folder):
    pool = ScriptProcesses(processes=1, threads=1, memory_limit=120 * 1024 * 1024)
    try:
        wait_for(pool.ready, "a ready script process")
        (first,) = pool.pids()
        huge = call(folder, "a", "SELECT randomblob(150000000) AS big, 7 AS n")
        (run,) = pool.run([huge], threading.Event())
        assert run.outcome is not None and run.outcome.succeeded, run.outcome
        big, n = run.outcome.rows[0]
        assert run.outcome.truncated and n == 7
        assert big.startswith("0x") and len(big) <= 64 * 1024, "the value is kept cut"
        wait_for(lambda: not alive(first), "the grown child to exit")
        wait_for(lambda: pool.ready() and first not in pool.pids(), "a new child")
        (again,) = pool.run([call(folder, "b", "SELECT 1 AS one")], threading.Event())
        assert again.outcome is not None and again.outcome.rows == [[1]]
    finally:
        pool.close()


def test_children_run_nicer_than_their_host(processes):
    host = os.getpriority(os.PRIO_PROCESS, 0)

    children = [os.getpriority(os.PRIO_PROCESS, pid) for pid in processes.pids()]

    assert children == [min(19, host + NICENESS)]
    assert NICENESS > 0
