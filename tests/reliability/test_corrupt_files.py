"""A damaged job database or task hub stops the host at once, with one line naming the file.

Before, a job database that was not SQLite (or was cut short) let the host start and answer
``500`` to every request, and a damaged task hub ended the host with a raw traceback. Now the
real host (``python -m devhost``, ``sqlfleet serve``) exits with status 2 and one line that
names the file and says what to do, and leaves the file as it was.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.store import SqliteTaskHubStore
from devhost.workitems import NewInstance
from sqlfleet.models import JobIn, TargetGroupIn, validate_document
from sqlfleet.settings import host_app_settings
from sqlfleet.store import SqlJobStore
from tests.devhost.host.hostproc import ROOT, SAMPLE_APP
from tests.support.servers import free_port

pytestmark = pytest.mark.reliability

SQLFLEET = [sys.executable, "-c", "import sys; from sqlfleet.cli import main; sys.exit(main())"]
REFUSAL_SECONDS = 60
SQLFLEET_HUB = "SqlFleet.sqlite3"  # host.json's hubName
SAMPLE_HUB = "SampleHub.sqlite3"


def job_database(path: Path) -> None:
    """A real job database with a few hundred kilobytes of definitions."""
    store = SqlJobStore(f"sqlite:///{path}")
    try:
        member = {"target_type": "database", "server_name": "s", "database_name": "d"}
        store.put_target_group("g", validate_document(TargetGroupIn, {"members": [member]}))
        for number in range(40):
            steps = [{"command": f"SELECT {number};".ljust(8000, " "), "target_group_name": "g"}]
            store.put_job(f"job{number}", validate_document(JobIn, {"steps": steps}))
    finally:
        store.close()


def task_hub(path: Path) -> None:
    """A real task hub holding a few hundred orchestrations."""
    store = SqliteTaskHubStore(str(path))
    now = dt.datetime.now(dt.timezone.utc)
    try:
        for number in range(300):
            store.create_instance(
                NewInstance(
                    instance_id=f"instance-{number}",
                    execution_id="e",
                    name="orchestrator",
                    version="",
                    input="x" * 2000,
                    started_event="{}",
                    created_time=now,
                )
            )
    finally:
        store.close()


def damage(path: Path, how: str) -> bytes:
    """Cut ``path`` to half its size or overwrite it with bytes that are not SQLite; answers
    what it now holds."""
    if how == "truncated":
        data = path.read_bytes()
        assert len(data) > 100_000
        damaged = data[: len(data) // 2]
    else:
        damaged = os.urandom(20_000)
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    path.write_bytes(damaged)
    return damaged


def refused(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **host_app_settings(), "PYTHONUNBUFFERED": "1", **env}
    if "SQLFLEET_DATA_DIR" not in env:  # sqlfleet serve's data folder is the one it is given
        environment.pop("SQLFLEET_DATA_DIR", None)
    return subprocess.run(
        command,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=REFUSAL_SECONDS,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], wanted: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and "Host started" not in output, output
    lines = [line for line in output.splitlines() if wanted in line]
    assert len(lines) == 1, output
    assert "cannot start" in lines[0] and "restore it from a backup" in lines[0], lines[0]


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_damaged_job_database_stops_python_m_devhost(tmp_path: Path, how: str) -> None:
    database = tmp_path / "app" / "jobs.db"
    database.parent.mkdir()
    job_database(database)
    damaged = damage(database, how)
    result = refused(
        [sys.executable, "-m", "devhost", str(ROOT), "--port", str(free_port())]
        + ["--data-dir", str(tmp_path / "hub")],
        {"SQLFLEET_DATA_DIR": str(database.parent)},
    )
    assert_one_line(result, f"the job database {database} is damaged")
    assert database.read_bytes() == damaged
    # It stopped before the task hub was made.
    assert not list((tmp_path / "hub").glob("*.sqlite3"))


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_damaged_task_hub_stops_python_m_devhost(tmp_path: Path, how: str) -> None:
    hub = tmp_path / "hub" / SAMPLE_HUB
    hub.parent.mkdir()
    task_hub(hub)
    damaged = damage(hub, how)
    result = refused(
        [sys.executable, "-m", "devhost", str(SAMPLE_APP), "--port", str(free_port())]
        + ["--data-dir", str(hub.parent)],
        {},
    )
    assert_one_line(result, f"the task hub {hub} is damaged")
    assert hub.read_bytes() == damaged
    # The data folder is free again for the host started once the file is dealt with.
    assert (hub.parent / "devhost.lock").read_text() == ""


@pytest.mark.parametrize("which", ["job database", "task hub"])
def test_a_damaged_file_stops_sqlfleet_serve(tmp_path: Path, which: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    if which == "job database":
        path = folder / "jobs.db"
        job_database(path)
    else:
        path = folder / SQLFLEET_HUB
        task_hub(path)
    damaged = damage(path, "truncated")
    result = refused(
        [*SQLFLEET, "serve", "--port", str(free_port()), "--data-dir", str(folder)],
        {},
    )
    assert_one_line(result, f"the {which} {path} is damaged")
    assert path.read_bytes() == damaged
