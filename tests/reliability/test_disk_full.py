"""A full disk for a moment: the host carries on once space returns, without a restart.

The host's data (task hub and job database) lives on a small tmpfs of its own. While the targets'
scripts run, a ballast file fills that file system, so every bookkeeping write of their ends
fails with ENOSPC (SQLite's "database or disk is full"), in the job database and in the task
hub alike. Then the ballast goes. The execution must end as if nothing had happened: before, the
results the task hub refused were dropped, their activities never ran again, and the execution
stayed ``InProgress`` until the host restarted.

Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped.
"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sqlfleet.settings import host_app_settings
from tests.devhost.host.hostproc import ROOT, poll
from tests.reliability.host import FleetHost
from tests.support.servers import free_port

pytestmark = pytest.mark.reliability

TARGETS = 4
DISK_MEGABYTES = 40
# About two seconds of work on one core: long enough to fill the disk while every target runs.
SLOW_SCRIPT = (
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000000) "
    "SELECT count(*) AS n FROM c;\n"
    "INSERT INTO done (at) VALUES (CURRENT_TIMESTAMP);"
)
FULL = "database or disk is full"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_MEGABYTES`` MiB, unmounted after the test."""
    if not sys.platform.startswith("linux"):
        pytest.skip("tmpfs is Linux's")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MEGABYTES}m,mode=0700", "tmpfs", mount_point],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", mount_point], check=False)


def fill(folder: Path) -> Path:
    """Write a ballast file into ``folder`` until its file system has no byte left."""
    ballast = folder / "ballast"
    chunk = b"\0" * (1 << 20)
    with open(ballast, "wb", buffering=0) as file:
        try:
            while True:
                file.write(chunk)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    # The last chunk may have gone in part: fill to the last byte.
    with open(ballast, "ab", buffering=0) as file:
        try:
            while True:
                file.write(b"\0" * 512)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return ballast


@dataclass
class HostOnSmallDisk(FleetHost):
    """A host whose data folders are on the small disk and whose log is not (its lines must
    survive the disk being full)."""

    log_file: Path = Path()

    @property
    def log_path(self) -> Path:
        return self.log_file


def make_fleet(folder: Path) -> None:
    folder.mkdir()
    for number in range(TARGETS):
        connection = sqlite3.connect(folder / f"full_{number}.db")
        connection.execute("CREATE TABLE done (at TEXT NOT NULL)")
        connection.commit()
        connection.close()


def runs(folder: Path) -> list[int]:
    counts = []
    for number in range(TARGETS):
        connection = sqlite3.connect(f"file:{folder / f'full_{number}.db'}?mode=ro", uri=True)
        try:
            counts.append(int(connection.execute("SELECT count(*) FROM done").fetchone()[0]))
        finally:
            connection.close()
    return counts


def test_an_execution_goes_on_once_a_full_disk_has_room_again(
    tmp_path: Path, small_disk: Path, credential_key: str
) -> None:
    fleet = tmp_path / "fleet"
    make_fleet(fleet)
    settings = {
        **host_app_settings(),
        "SQLFLEET_DATA_DIR": str(small_disk / "app"),
        "SQLFLEET_CREDENTIAL_KEY": credential_key,
        "SQLFLEET_SQLITE_ROOTS": str(fleet),
    }
    host = HostOnSmallDisk(
        ROOT, small_disk / "hub", free_port(), settings, log_file=tmp_path / "host.log"
    )
    host.launch()
    try:
        assert host.process is not None
        pid = host.process.pid
        host.put_target_group(
            "full-fleet", [{"target_type": "server", "engine": "sqlite", "server_name": str(fleet)}]
        )
        host.put_job(
            "full-job",
            [
                {
                    "step_name": "slow",
                    "command": SLOW_SCRIPT,
                    "target_group_name": "full-fleet",
                    "retry_attempts": 10,
                    "initial_retry_interval_seconds": 1,
                    "maximum_retry_interval_seconds": 2,
                    "step_timeout_seconds": 120,
                    # One lane, so one activity, per target: all four scripts run at once
                    # (a small step of SQLite files would otherwise run in two chunks, turn
                    # by turn, and the second turns wait for the first ones' records).
                    "max_parallelism": TARGETS,
                }
            ],
        )
        execution_id = host.start_job("full-job")

        def all_running() -> bool:
            targets = host.targets(host.execution(execution_id))
            return len(targets) == TARGETS and all(t["lifecycle"] == "InProgress" for t in targets)

        poll(all_running, 60, "every target to start", interval=0.02)
        ballast = fill(small_disk)
        # Every script ends while the disk is full: their ends cannot be written.
        poll(lambda: all(runs(fleet)), 60, "every script to finish", interval=0.05)
        poll(lambda: FULL in host.log(), 30, f"'{FULL}' in the host's log")
        ballast.unlink()

        execution = host.wait_finished(execution_id, 90)
        assert execution["lifecycle"] == "Succeeded", execution
        targets = host.targets(host.execution(execution_id))
        assert [t["lifecycle"] for t in targets] == ["Succeeded"] * TARGETS, targets
        # The same host did it: never restarted, still the same process.
        assert host.alive and host.process.pid == pid and host.launches == 1
        # And it still works: another run goes through at once.
        again = host.start_job("full-job")
        assert host.wait_finished(again, 60)["lifecycle"] == "Succeeded"
    finally:
        host.stop()


def test_a_start_the_task_hub_refuses_leaves_no_execution_behind(
    tmp_path: Path, small_disk: Path, credential_key: str
) -> None:
    """The job database has room, the task hub has none: the start answers 503 saying the
    orchestration could not be started, and no ``Created`` execution is left that nothing would
    ever run (start_job writes the row first, then starts the orchestration)."""
    fleet = tmp_path / "fleet"
    make_fleet(fleet)
    settings = {
        **host_app_settings(),
        "SQLFLEET_DATA_DIR": str(tmp_path / "app"),  # the job database: on the big disk
        "SQLFLEET_CREDENTIAL_KEY": credential_key,
        "SQLFLEET_SQLITE_ROOTS": str(fleet),
    }
    host = HostOnSmallDisk(
        ROOT, small_disk / "hub", free_port(), settings, log_file=tmp_path / "host.log"
    )
    host.launch()
    try:
        group = [{"target_type": "server", "engine": "sqlite", "server_name": str(fleet)}]
        host.put_target_group("hub-full", group)
        step = {"step_name": "one", "command": "SELECT 1", "target_group_name": "hub-full"}
        host.put_job("hub-full-job", [step])
        ballast = fill(small_disk)
        reply = host.call("POST", "/api/jobs/hub-full-job/start")
        assert reply.status == 503, reply.text
        assert "could not be started" in reply.json()["message"], reply.text
        listed = host.ok("GET", "/api/executions?job_name=hub-full-job")["items"]
        assert listed == [], listed
        ballast.unlink()
        # Room again: the next start runs.
        again = host.start_job("hub-full-job")
        assert host.wait_finished(again, 60)["lifecycle"] == "Succeeded"
    finally:
        host.stop()
