"""Crash safety: kill -9 a host mid fan-out, open the same file again, everything finishes."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from pathlib import Path

from devhost.clock import FakeClock
from devhost.engine import Engine
from devhost.store import SqliteTaskHubStore
from devhost.taskhub import RuntimeStatus
from tests.devhost.engine.crash_host import build_functions
from tests.devhost.engine.engine_apps import wait_until

COUNT = 60
HOST = Path(__file__).with_name("crash_host.py")


def _lines(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_a_killed_host_resumes_orchestrations_activities_and_due_timers(tmp_path: Path):
    hub, log = tmp_path / "hub.sqlite3", tmp_path / "activities.log"
    errors = tmp_path / "host.stderr"
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, str(HOST), str(hub), str(log), str(COUNT)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as host,
    ):
        try:
            assert host.stdout is not None
            assert host.stdout.readline().strip() == "started", errors.read_text()
            observer = SqliteTaskHubStore(str(hub))
            wait_until(lambda: observer.next_timer_at() is not None and len(_lines(log)) >= 10)
        finally:
            host.send_signal(signal.SIGKILL)
            host.wait()
    ran_before_kill = set(_lines(log))
    assert 10 <= len(ran_before_kill) < COUNT, "the kill must land mid fan-out"
    assert observer.get_instance("crash-fanout").status is RuntimeStatus.RUNNING
    observer.close()

    later = FakeClock(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    engine = Engine(
        SqliteTaskHubStore(str(hub)),
        build_functions(str(log)),
        clock=later,
        max_concurrent_activities=4,
    )
    engine.start()
    try:
        wait_until(
            lambda: all(
                engine.get_status(i).runtime_status.is_terminal
                for i in ("crash-fanout", "crash-timer")
            ),
            timeout=60,
        )
    finally:
        engine.stop()
    fan_out = engine.get_status("crash-fanout", show_history=True)
    napper = engine.get_status("crash-timer")
    engine.store.close()

    assert (fan_out.runtime_status, fan_out.output) == (
        RuntimeStatus.COMPLETED,
        str(sum(range(COUNT))),
    )
    assert (napper.runtime_status, napper.output) == (RuntimeStatus.COMPLETED, '"woke"')
    assert set(_lines(log)) == set(range(COUNT))  # every activity ran at least once
    # The orchestration continued from its history instead of starting over.
    assert [e["EventType"] for e in fan_out.history].count(0) == 1
    assert [e["EventType"] for e in fan_out.history].count(4) == COUNT
