"""One host per data folder, and one SQL Fleet host per SQLite job database.

A second ``python -m devhost`` (or ``sqlfleet serve``) on a data folder that a running host
holds exits non-zero at once, naming the holder's pid and URL, and leaves the first host
alone; so does a second SQL Fleet host with a task hub of its own on the first one's SQLite
job database. Once the first host is killed (SIGKILL: no clean shutdown), a new one starts on
the same folders.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sqlfleet.settings import host_app_settings
from tests.devhost.host.hostproc import ROOT, SAMPLE_APP, HostProcess, call, poll
from tests.reliability.conftest import HostFactory
from tests.reliability.host import FleetHost
from tests.support.servers import free_port

pytestmark = pytest.mark.reliability

# ``sqlfleet`` from this checkout (run in ROOT), whichever checkout the console script is of.
SQLFLEET = [sys.executable, "-c", "import sys; from sqlfleet.cli import main; sys.exit(main())"]
# A refused host stops before it imports the app or opens anything: seconds, not minutes.
REFUSAL_SECONDS = 60


def _refused(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a host that must refuse to start; answer how it exited."""
    environment = {**os.environ, **host_app_settings(), "PYTHONUNBUFFERED": "1", **env}
    return subprocess.run(
        command,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=REFUSAL_SECONDS,
        stdin=subprocess.DEVNULL,
    )


def _lock_record(folder: Path, name: str = "devhost.lock") -> dict[str, object]:
    record = json.loads((folder / name).read_text())
    assert isinstance(record, dict)
    return record


def _answers(base: str) -> bool:
    try:
        return call("GET", f"{base}/admin/host/ping", timeout=2).status == 200
    except OSError:
        return False


def test_second_devhost_on_a_data_folder_is_refused_until_the_first_dies(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "hub"
    first = HostProcess.start(SAMPLE_APP, folder)
    try:
        assert first.process is not None
        holder = first.process.pid
        assert _lock_record(folder) == {
            "pid": holder,
            "app": str(SAMPLE_APP.resolve()),
            "started": _lock_record(folder)["started"],
            "url": first.base,
        }
        second_port = free_port()
        refused = _refused(
            [sys.executable, "-m", "devhost", str(SAMPLE_APP), "--port", str(second_port)]
            + ["--data-dir", str(folder)],
            {},
        )
        output = refused.stdout + refused.stderr
        assert refused.returncode == 2, output
        assert f"pid {holder}" in output and first.base in output, output
        assert str(folder) in output and "Traceback" not in output
        assert not _answers(f"http://127.0.0.1:{second_port}")
        # The first host never noticed.
        assert _answers(first.base)
        assert _lock_record(folder)["pid"] == holder

        first.kill()
        first.port = free_port()
        first.launch()
        assert first.process is not None and first.process.pid != holder
        assert _lock_record(folder)["pid"] == first.process.pid
        assert _lock_record(folder)["url"] == first.base
    finally:
        first.stop()
    # A clean stop gives the folder up and leaves no holder behind.
    assert (folder / "devhost.lock").read_text() == ""


def test_second_sqlfleet_serve_on_a_data_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    port = free_port()
    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"

    def serve() -> subprocess.Popen[bytes]:
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                [*SQLFLEET, "serve", "--port", str(port), "--data-dir", str(folder)],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"sqlfleet serve exited:\n{log.read_text()}")
            return _answers(base)

        poll(ready, 90, f"sqlfleet serve on port {port}", interval=0.1)
        return process

    first = serve()
    try:
        refused = _refused([*SQLFLEET, "serve", "--port", "0", "--data-dir", str(folder)], {})
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, output
        # sqlfleet serve becomes the host (exec): its pid is the holder's.
        assert f"pid {first.pid}" in output and base in output, output
        assert _answers(base)

        first.send_signal(signal.SIGKILL)
        first.wait(30)
        first = serve()
        assert _lock_record(folder)["pid"] == first.pid
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)


def test_two_hosts_on_one_sqlite_job_database_are_refused(
    tmp_path: Path, fleet_host: HostFactory, credential_key: str
) -> None:
    first = fleet_host("shared-jobs")
    assert first.process is not None
    holder = first.process.pid
    jobs_db = first.root / "app" / "jobs.db"
    record = _lock_record(jobs_db.parent, "jobs.db.lock")
    assert record["pid"] == holder and "devhost" in str(record["command"])

    env = {"SQLFLEET_DATA_DIR": str(first.root / "app"), "SQLFLEET_CREDENTIAL_KEY": credential_key}
    other_hub = tmp_path / "other-hub"
    second_port = free_port()
    refused = _refused(
        [sys.executable, "-m", "devhost", str(ROOT), "--port", str(second_port)]
        + ["--data-dir", str(other_hub)],
        env,
    )
    output = refused.stdout + refused.stderr
    assert refused.returncode == 2, output
    assert f"the job database {jobs_db} is in use" in output, output
    assert f"pid {holder}" in output, output
    assert not _answers(f"http://127.0.0.1:{second_port}")
    # The refused host opened no task hub of its own, and left the data folder free.
    assert not list(other_hub.glob("*.sqlite3"))
    assert (other_hub / "devhost.lock").read_text() == ""
    assert first.call("GET", "/api/jobs").status == 200

    first.kill()
    second = FleetHost(ROOT, other_hub, second_port, {**host_app_settings(), **env})
    try:
        second.launch()
        assert second.call("GET", "/api/jobs").status == 200
        assert second.process is not None
        assert _lock_record(jobs_db.parent, "jobs.db.lock")["pid"] == second.process.pid
    finally:
        second.stop()
