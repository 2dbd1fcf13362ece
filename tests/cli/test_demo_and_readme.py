"""The user's path as written: ``sqlfleet demo``, ``sqlfleet serve``, and the README's examples
(its CLI blocks run in bash against a live host; its fleet file example is applied dry)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlfleet.cli.demo import drop_postgres_databases, make_sqlite_server
from sqlfleet.cli.serve import LocalHost
from sqlfleet.fleetfile import parse_fleet
from tests.cli.conftest import ROOT, SQLFLEET, start_host, subprocess_environment
from tests.support.servers import answers, wait_until

README = ROOT / "README.md"
DEMO_SECONDS = 60


def readme_blocks(kind: str) -> list[str]:
    """The fenced blocks that follow ``<!-- readme-test: KIND -->`` in the README."""
    pattern = re.compile(rf"<!-- readme-test: {kind} -->\s*```\w*\n(.*?)```", re.DOTALL)
    return pattern.findall(README.read_text(encoding="utf-8"))


def test_demo_succeeds_and_can_run_again(tmp_path: Path) -> None:
    prefix = f"sqlfleet_demo_{uuid.uuid4().hex[:8]}"
    postgres = answers("127.0.0.1", 5432)
    command = [SQLFLEET, "demo", "--data-dir", str(tmp_path / "demo"), "--database-prefix", prefix]
    try:
        outputs = []
        for _ in range(2):
            began = time.monotonic()
            run = subprocess.run(command, capture_output=True, text=True, timeout=DEMO_SECONDS)
            assert run.returncode == 0, run.stdout + run.stderr
            assert time.monotonic() - began < DEMO_SECONDS
            assert run.stderr == ""
            outputs.append(run.stdout)
    finally:
        if postgres:
            drop_postgres_databases("127.0.0.1", 5432, prefix)
    first, second = outputs
    assert "applied examples/fleet.yaml: 4 to create" in first
    assert "examples/fleet.yaml: no changes (4 unchanged)" in second
    for out in outputs:
        assert "job execution Succeeded: 2 step(s)" in out
        assert "statusQueryGetUri" in out and "/runtime/webhooks/durabletask/instances/" in out
        check = out.split("6. check: which tables exist where")[1]
        rows = [line.split() for line in check.splitlines() if "/db" in line or "_db" in line]
        expected = {"db1": ("yes", "yes"), "db2": ("yes", "no"), "db3": ("yes", "yes")}
        assert len(rows) == (6 if postgres else 3)
        for row in rows:
            database = row[1].rsplit("_", 1)[-1].rsplit("/", 1)[-1]
            assert tuple(row[2:4]) == expected[database], row
            assert row[4] == "yes"
        assert "demo succeeded" in out
    if postgres:
        assert f"postgresql 127.0.0.1:5432/{prefix}_db2" in first


def test_serve_runs_the_local_host_until_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with open(log, "w") as sink:
        process = subprocess.Popen(
            [SQLFLEET, "serve", "--port", "0", "--data-dir", str(tmp_path / "data")],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        found = wait_until(
            lambda: re.search(r"Host started on (http://\S+)", log.read_text()), 60, 0.1
        )
        url = found.group(1)
        environ = {k: v for k, v in os.environ.items() if k != "SQLFLEET_FUNCTION_KEY"}
        # No --key: the CLI finds the function key in the data folder `serve` noted.
        run = subprocess.run(
            [SQLFLEET, "--url", url, "jobs", "list", "--json"],
            capture_output=True,
            text=True,
            env=environ,
        )
        assert run.returncode == 0 and json.loads(run.stdout) == [], run.stderr
        assert "Keys: function, master and system keys from" in log.read_text()
        # Both stores live in the data folder, and password credentials work without a setting.
        assert (tmp_path / "data" / "jobs.db").exists()
        assert (tmp_path / "data" / "credential.key").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "data" / "secrets" / "host.json").stat().st_mode & 0o777 == 0o600
        keyless = urllib.request.Request(url + "/api/jobs")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(keyless, timeout=10)
        refused.value.close()
        assert refused.value.code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


@pytest.fixture(scope="module")
def readme_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    host = start_host(tmp_path_factory.mktemp("readme-host"), tmp_path_factory.getbasetemp())
    try:
        yield host
    finally:
        host.stop()


def test_the_readme_cli_examples_run_as_written(readme_host: LocalHost, tmp_path: Path) -> None:
    blocks = readme_blocks("cli")
    assert len(blocks) == 2
    make_sqlite_server(tmp_path / "server1")
    assert readme_host.url
    # No key in the environment: as after `sqlfleet serve` on the default data folder, the CLI
    # finds the function key in the host's data folder.
    environ = subprocess_environment(
        readme_host.url,
        SQLFLEET_DEMO_DIR=str(tmp_path),
        SQLFLEET_DATA_DIR=str(readme_host.data_dir),
    )
    environ.pop("SQLFLEET_FUNCTION_KEY", None)
    # One shell, as a reader would type them: the second block uses the first one's export.
    script = "\n".join(blocks)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert "Traceback" not in run.stderr
    assert "job execution Succeeded" in run.stdout
    # The walkthrough ran the tutorial job: Step2Table everywhere but db2.
    tables = {
        name: (tmp_path / "server1" / f"{name}.db").read_bytes() for name in ("db1", "db2", "db3")
    }
    assert all(b"Step1Table" in content for content in tables.values())
    assert [b"Step2Table" in tables[name] for name in ("db1", "db2", "db3")] == [True, False, True]


def test_the_readme_fleet_file_example_is_valid_and_plans(
    readme_host: LocalHost, tmp_path: Path
) -> None:
    (block,) = readme_blocks("fleet")
    fleet = parse_fleet(block, "README.md", {"JOBUSER_PASSWORD": "x"})
    assert list(fleet.target_groups) == ["ServerGroup", "PoolGroup", "LocalFleet"]
    path = tmp_path / "fleet.yaml"
    path.write_text(block)
    assert readme_host.url
    run = subprocess.run(
        [SQLFLEET, "apply", "-f", str(path), "--dry-run", "--json"],
        env=subprocess_environment(
            readme_host.url,
            JOBUSER_PASSWORD="x",
            SQLFLEET_FUNCTION_KEY=readme_host.function_key or "",
        ),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert {(c["kind"], c["name"]) for c in plan["changes"]} >= {
        ("credential", "masteruser"), ("target group", "LocalFleet"), ("job", "CreateTableTest"),
    }  # fmt: skip
