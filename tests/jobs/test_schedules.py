"""Schedules on a host whose clock the test moves (``tests.jobs.skewed_host``): occurrences run,
changes take effect at once, downtime owes one run, and the housekeeping timer restores missing
schedule orchestrations and purges history past the retention."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.fernet import Fernet

from tests.jobs.fleet import sqlite_folder_member, step, unique
from tests.jobs.host import WEBHOOK, JobsHost, poll

DAY = 86_400.0
RECORD = (
    "CREATE TABLE IF NOT EXISTS runs (execution text); "
    "INSERT INTO runs VALUES ('$(job_execution_id)')"
)


@pytest.fixture(scope="module")
def skewed_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsHost]:
    folder = tmp_path_factory.mktemp("skewed-host")
    env = {
        "SQLFLEET_DATA_DIR": str(folder / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
        "SQLFLEET_HISTORY_RETENTION_DAYS": "3",
        # Tests make their SQLite folders in their own tmp_path: all under the session's base.
        "SQLFLEET_SQLITE_ROOTS": str(tmp_path_factory.getbasetemp()),
    }
    host = JobsHost.start(folder, env, skewed=True)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def targets(tmp_path: Path) -> Path:
    folder = tmp_path / "targets"
    folder.mkdir()
    sqlite3.connect(folder / "only.db").close()
    return folder


class Clock:
    """The skewed host's offset, moved forward only."""

    def __init__(self, host: JobsHost) -> None:
        self.host = host
        text = host.offset_file.read_text() if host.offset_file.exists() else "0"
        self.offset = float(text or 0)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.host.skew(self.offset)


def _job(
    host: JobsHost, name: str, folder: Path, schedule: dict[str, Any], enabled: bool = True
) -> dict[str, Any]:
    group = f"{name}-targets"
    host.ok("PUT", f"/api/target-groups/{group}", {"members": [sqlite_folder_member(folder)]})
    return host.put_job(name, [step("record", RECORD, group)], enabled=enabled, schedule=schedule)


def _minutely(start: dt.datetime) -> dict[str, Any]:
    return {"interval_type": "minutes", "interval_count": 1, "start_time": start.isoformat()}


def _schedule_status(host: JobsHost, job_id: str) -> dict[str, Any] | None:
    reply = host.call("GET", f"{WEBHOOK}/instances/{quote('sqlfleet-schedule-' + job_id)}")
    return reply.body if reply.status in (200, 202) else None


def _runtime(host: JobsHost, job_id: str) -> str | None:
    status = _schedule_status(host, job_id)
    return status["runtimeStatus"] if status else None


def _executions(host: JobsHost, job: str) -> list[dict[str, Any]]:
    return host.ok("GET", f"/api/executions?job_name={quote(job)}")["items"]


def _finished_runs(host: JobsHost, job: str, count: int, timeout: float = 30) -> list[Any]:
    def enough() -> list[Any] | None:
        runs = _executions(host, job)
        done = [run for run in runs if not run["is_active"]]
        return runs if len(runs) >= count and len(done) == len(runs) else None

    return poll(enough, timeout, f"{count} finished execution(s) of {job}", interval=0.2)


def _next_occurrence(host: JobsHost, job_id: str) -> dt.datetime | None:
    status = _schedule_status(host, job_id) or {}
    custom = status.get("customStatus") or {}
    text = custom.get("next_occurrence") if isinstance(custom, dict) else None
    return dt.datetime.fromisoformat(text) if text else None


def _recorded(folder: Path) -> list[str]:
    with closing(sqlite3.connect(folder / "only.db")) as connection:
        return [row[0] for row in connection.execute("SELECT execution FROM runs")]


def test_schedule_runs_each_occurrence_and_follows_changes(
    skewed_host: JobsHost, targets: Path
) -> None:
    clock = Clock(skewed_host)
    start = (clock.now() + dt.timedelta(seconds=30)).replace(microsecond=0)
    name = unique("every_minute")
    job = _job(skewed_host, name, targets, _minutely(start))
    poll(lambda: _next_occurrence(skewed_host, job["job_id"]) == start, 20, "the schedule")
    assert _executions(skewed_host, name) == []

    clock.advance(31)
    (first,) = _finished_runs(skewed_host, name, 1)
    assert first["lifecycle"] == "Succeeded"
    poll(
        lambda: _next_occurrence(skewed_host, job["job_id"]) == start + dt.timedelta(minutes=1),
        20,
        "the next occurrence",
    )
    clock.advance(60)
    runs = _finished_runs(skewed_host, name, 2)
    assert len(runs) == 2
    assert {run["lifecycle"] for run in runs} == {"Succeeded"}
    assert sorted(_recorded(targets)) == sorted(run["job_execution_id"] for run in runs)

    # Changing the schedule takes effect at once: the orchestration sleeps toward the new one.
    hourly = {**_minutely(start), "interval_type": "hours"}
    _job(skewed_host, name, targets, hourly)
    poll(
        lambda: _next_occurrence(skewed_host, job["job_id"]) == start + dt.timedelta(hours=1),
        20,
        "the changed schedule",
    )
    # Disabling stops it at once; enabling starts it again.
    _job(skewed_host, name, targets, hourly, enabled=False)
    poll(lambda: _runtime(skewed_host, job["job_id"]) == "Terminated", 20, "the stopped schedule")
    _job(skewed_host, name, targets, hourly)
    poll(lambda: _runtime(skewed_host, job["job_id"]) == "Running", 20, "the restarted schedule")
    assert len(_executions(skewed_host, name)) == 2
    # Deleting the job ends its schedule too.
    assert skewed_host.call("DELETE", f"/api/jobs/{name}").status == 204
    poll(lambda: _runtime(skewed_host, job["job_id"]) == "Terminated", 20, "the deleted schedule")


def test_downtime_owes_one_run_and_housekeeping_restores_and_purges(
    skewed_host: JobsHost, targets: Path
) -> None:
    clock = Clock(skewed_host)
    start = (clock.now() + dt.timedelta(seconds=30)).replace(microsecond=0)
    hourly_schedule = {**_minutely(start), "interval_type": "hours"}
    # Hourly: after the downtime the next occurrence is an hour away, so every run seen
    # meanwhile is owed by the downtime.
    owing = unique("owing")
    job = _job(skewed_host, owing, targets, hourly_schedule)
    # Its first cycle must see the clock before the start: a schedule's first cycle owes
    # nothing from the past.
    poll(lambda: _next_occurrence(skewed_host, job["job_id"]) == start, 20, "the schedule")
    clock.advance(31)
    (before,) = _finished_runs(skewed_host, owing, 1)

    lost = _job(skewed_host, unique("lost"), targets, hourly_schedule)
    poll(lambda: _runtime(skewed_host, lost["job_id"]) == "Running", 20, "the hourly schedule")
    instance = quote("sqlfleet-schedule-" + lost["job_id"])
    reply = skewed_host.call("POST", f"{WEBHOOK}/instances/{instance}/terminate?reason=lost")
    assert reply.status == 202, reply.body
    poll(lambda: _runtime(skewed_host, lost["job_id"]) == "Terminated", 20, "the lost schedule")

    # Two days of downtime: the schedule owes one run, not 48.
    clock.offset += 2 * DAY
    clock.host.offset_file.write_text(str(clock.offset))
    skewed_host.restart()
    # The housekeeping timer was due while the host was down, so it runs at start-up.
    poll(lambda: _runtime(skewed_host, lost["job_id"]) == "Running", 30, "housekeeping")
    runs = _finished_runs(skewed_host, owing, 2)
    assert len(runs) == 2
    upcoming = _next_occurrence(skewed_host, job["job_id"])
    assert upcoming is not None and upcoming > clock.now() - dt.timedelta(seconds=5)
    assert skewed_host.ok("GET", f"/api/executions/{before['job_execution_id']}")

    # Past the retention (3 days here), finished history leaves both databases.
    clock.offset += 2 * DAY
    clock.host.offset_file.write_text(str(clock.offset))
    skewed_host.restart()
    execution_id = before["job_execution_id"]

    def purged() -> bool:
        gone = skewed_host.call("GET", f"/api/executions/{execution_id}").status == 404
        return gone and skewed_host.instances(execution_id) == []

    poll(purged, 30, "the old execution to leave the job database and the task hub")


def test_a_minute_schedule_runs_twice_a_minute_apart(skewed_host: JobsHost, targets: Path) -> None:
    # The host's clock moves a minute in a moment: the durable timers fire on the host's clock,
    # so the occurrences are a minute apart by it (devhost's own tests hold real-time timers;
    # the job database stamps executions with the wall clock, so occurrences are what to check).
    clock = Clock(skewed_host)
    start = (clock.now() + dt.timedelta(seconds=5)).replace(microsecond=0)
    name = unique("minute")
    job = _job(skewed_host, name, targets, _minutely(start))
    try:
        poll(lambda: _next_occurrence(skewed_host, job["job_id"]) == start, 20, "the schedule")
        clock.advance(6)
        _finished_runs(skewed_host, name, 1)
        minute = dt.timedelta(minutes=1)
        poll(
            lambda: _next_occurrence(skewed_host, job["job_id"]) == start + minute,
            20,
            "the next occurrence, a minute after the first",
        )
        assert len(_executions(skewed_host, name)) == 1  # nothing runs before it is due
        clock.advance(60)
        runs = _finished_runs(skewed_host, name, 2)
        assert {run["lifecycle"] for run in runs} == {"Succeeded"}
        assert len({run["job_execution_id"] for run in runs}) == 2
        assert sorted(_recorded(targets)) == sorted(run["job_execution_id"] for run in runs)
        poll(
            lambda: _next_occurrence(skewed_host, job["job_id"]) == start + 2 * minute,
            20,
            "the third occurrence, a minute after the second",
        )
    finally:
        _job(skewed_host, name, targets, _minutely(start), enabled=False)
        poll(lambda: _runtime(skewed_host, job["job_id"]) != "Running", 20, "the schedule to stop")


# --- issue 16: a past start runs now; time zones across DST changes, on the host's clock -----
def _jump(clock: Clock, to: dt.datetime) -> None:
    """Move the host's clock to ``to`` (forward only)."""
    seconds = (to - clock.now()).total_seconds()
    if seconds <= 0:
        pytest.skip(f"the host's clock is already past {to}")
    clock.advance(seconds)


def _recorded_safely(folder: Path) -> list[str]:
    try:
        return _recorded(folder)
    except sqlite3.OperationalError:  # the table comes with the first run
        return []


def test_a_daily_schedule_in_new_york_runs_now_then_across_the_spring_forward(
    skewed_host: JobsHost, targets: Path
) -> None:
    clock = Clock(skewed_host)
    _jump(clock, dt.datetime(2027, 3, 13, 12, 0, tzinfo=dt.timezone.utc))
    name = unique("spring")
    # 02:30 New York time every day (no offset: local), starting the day before: at or before
    # now, so the latest occurrence (the 13th, 02:30 EST = 07:30Z) runs at once.
    schedule = {
        "interval_type": "Days",
        "time_zone": "America/New_York",
        "start_time": "2027-03-12T02:30:00",
    }
    job = _job(skewed_host, name, targets, schedule)
    try:
        poll(lambda: len(_recorded_safely(targets)) == 1, 30, "the run owed now")
        # The 14th's 02:30 does not exist (02:00 EST -> 03:00 EDT): it runs at 03:00 EDT.
        spring = dt.datetime(2027, 3, 14, 7, 0, tzinfo=dt.timezone.utc)
        poll(lambda: _next_occurrence(skewed_host, job["job_id"]) == spring, 20, "the 14th")
        _jump(clock, spring + dt.timedelta(seconds=2))
        poll(lambda: len(_recorded_safely(targets)) == 2, 30, "the spring-forward run")
        after = dt.datetime(2027, 3, 15, 6, 30, tzinfo=dt.timezone.utc)  # 02:30 EDT
        poll(lambda: _next_occurrence(skewed_host, job["job_id"]) == after, 20, "the 15th")
        assert len(_recorded_safely(targets)) == 2
    finally:
        _job(skewed_host, name, targets, schedule, enabled=False)


def test_a_cron_schedule_in_new_york_runs_a_repeated_time_once_on_the_fall_back_day(
    skewed_host: JobsHost, targets: Path
) -> None:
    clock = Clock(skewed_host)
    _jump(clock, dt.datetime(2027, 11, 6, 12, 0, tzinfo=dt.timezone.utc))
    name = unique("autumn")
    schedule = {"cron": "30 1 * * *", "time_zone": "America/New_York"}
    job = _job(skewed_host, name, targets, schedule)
    try:
        poll(lambda: len(_recorded_safely(targets)) == 1, 30, "the run owed now (the 6th)")
        # 01:30 happens twice on the 7th (EDT 05:30Z, then EST 06:30Z): it runs at the first.
        first = dt.datetime(2027, 11, 7, 5, 30, tzinfo=dt.timezone.utc)
        poll(lambda: _next_occurrence(skewed_host, job["job_id"]) == first, 20, "the 7th")
        _jump(clock, first + dt.timedelta(seconds=2))
        poll(lambda: len(_recorded_safely(targets)) == 2, 30, "the fall-back run")
        following = dt.datetime(2027, 11, 8, 6, 30, tzinfo=dt.timezone.utc)  # 01:30 EST
        poll(lambda: _next_occurrence(skewed_host, job["job_id"]) == following, 20, "the 8th")
    finally:
        _job(skewed_host, name, targets, schedule, enabled=False)
