"""The data folder is the host's user's alone: 0700, and every file in it 0600.

It holds the job database and the task hub (result rows, credential ciphertexts), their WAL and
shared-memory files, the credential key, the host's keys and its log. Before, they were created
0644 in a 0755 folder, so every user of the machine could read them. The host is started the
way ``sqlfleet demo`` starts it (``LocalHost``: ``python -m devhost`` with the data folder shared
by the task hub and the job database) under the common umask 022; a job runs so that every kind
of file exists. Then everything is made readable by others again, as an older version left it,
and the next start makes it private again, saying so.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlfleet.cli.serve import LocalHost
from tests.devhost.host.hostproc import call, poll

pytestmark = pytest.mark.reliability

# What a host that ran one job leaves in its data folder, at least.
EXPECTED_FILES = {
    "credential.key",
    "devhost.lock",
    "host.log",
    "jobs.db",
    "jobs.db-shm",
    "jobs.db-wal",
    "jobs.db.lock",
    "SqlFleet.sqlite3",
    "SqlFleet.sqlite3-shm",
    "SqlFleet.sqlite3-wal",
    "secrets/host.json",
}


def entries(folder: Path) -> Iterator[Path]:
    yield folder
    yield from folder.rglob("*")


def modes(folder: Path) -> dict[str, int]:
    return {
        str(path.relative_to(folder)): stat.S_IMODE(path.stat().st_mode) for path in entries(folder)
    }


def start(data: Path, fleet: Path) -> tuple[LocalHost, str, str]:
    previous = os.umask(0o022)
    try:
        host = LocalHost(data, environ={"SQLFLEET_SQLITE_ROOTS": str(fleet)})
        url = host.start()
    finally:
        os.umask(previous)
    key = host.function_key
    assert key
    return host, url, key


def api(url: str, key: str, method: str, path: str, body: Any = None) -> Any:
    reply = call(method, f"{url}{path}", body, headers={"x-functions-key": key})
    assert 200 <= reply.status < 300, f"{method} {path} -> {reply.status}: {reply.text}"
    return reply.json() if reply.body else None


def run_a_job(url: str, key: str, fleet: Path) -> None:
    member = {"target_type": "server", "engine": "sqlite", "server_name": str(fleet)}
    api(url, key, "PUT", "/api/target-groups/modes", {"members": [member]})
    step = {"command": "SELECT 1 AS one", "target_group_name": "modes"}
    api(url, key, "PUT", "/api/jobs/modes", {"steps": [step]})
    execution = api(url, key, "POST", "/api/jobs/modes/start")["job_execution_id"]

    def ended() -> bool:
        return not api(url, key, "GET", f"/api/executions/{execution}")["is_active"]

    poll(ended, 60, "the job to end", interval=0.1)


def assert_private(data: Path) -> None:
    found = modes(data)
    assert set(found) >= EXPECTED_FILES, sorted(found)
    loose = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (data / name).is_dir() else 0o600)
    }
    assert not loose, loose


def test_the_data_folder_and_its_files_are_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    sqlite3.connect(fleet / "one.db").close()
    data = tmp_path / "data"

    host, url, key = start(data, fleet)
    try:
        run_a_job(url, key, fleet)
        assert_private(data)
    finally:
        host.stop()

    # As an older version (or a copy made with a loose umask) left them.
    for path in entries(data):
        path.chmod(0o755 if path.is_dir() else 0o644)
    host, url, key = start(data, fleet)
    try:
        run_a_job(url, key, fleet)
        assert_private(data)
        # What sqlfleet serve (here: LocalHost) made private, and then the host.
        said = caplog.text
        assert f"{data} could be read by other users (mode 755); made it private" in said
        assert f"{data / 'credential.key'} could be read by other users (mode 644)" in said
        log = host.log_path.read_text()
        for name in ("jobs.db", "jobs.db-wal", "SqlFleet.sqlite3", "secrets/host.json"):
            assert f"{data / name} could be read by other users (mode 644)" in log, log
    finally:
        host.stop()
