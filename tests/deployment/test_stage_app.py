"""``deploy/stage_app.py``: the folder azd and the Dockerfile deploy, one per durable backend.

The staged Durable Task Scheduler app is run by the real local host (which ignores the storage
provider: its task hub is SQLite) to show the folder is a complete Functions app.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deploy.stage_app import APP_PACKAGES, MARKER, PROFILES, StageError, main, stage
from sqlfleet.cli import main as sqlfleet
from sqlfleet.cli.demo import make_sqlite_server
from sqlfleet.settings import host_app_settings
from tests.devhost.host.hostproc import HostProcess

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_staged_folder_holds_the_app_and_the_profile(profile: str, tmp_path: Path) -> None:
    out = stage(profile, tmp_path / "app")
    assert (out / "host.json").read_bytes() == PROFILES[profile].read_bytes()
    assert (out / "function_app.py").is_file() and (out / "requirements.txt").is_file()
    for package in APP_PACKAGES:
        assert (out / package / "__init__.py").is_file()
    names = {path.relative_to(out).parts[0] for path in out.rglob("*")}
    assert names == {"host.json", "function_app.py", "requirements.txt", MARKER, *APP_PACKAGES}
    assert not list(out.rglob("__pycache__")) and not list(out.rglob("*.pyc"))
    assert (out / "sqlfleet" / "migrations" / "versions").is_dir()  # Alembic runs on Azure too


def test_staging_again_replaces_only_its_own_folder(tmp_path: Path) -> None:
    out = stage("mssql", tmp_path / "app")
    (out / "stale.txt").write_text("left from before")
    stage("durable-task-scheduler", out)
    assert not (out / "stale.txt").exists()
    assert (
        json.loads((out / "host.json").read_text())["extensions"]["durableTask"]["storageProvider"][
            "type"
        ]
        == "azureManaged"
    )

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not the script's")
    with pytest.raises(StageError, match="was not written by this script"):
        stage("mssql", foreign)
    assert (foreign / "keep.txt").exists()
    with pytest.raises(StageError, match="would replace the source tree"):
        stage("mssql", ROOT)


def test_command_line_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--profile", "cosmos", "--output", str(tmp_path / "x")])
    assert exit_.value.code == 2
    assert "invalid choice: 'cosmos'" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    assert main(["--profile", "mssql", "--output", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stage_app: --output")


def test_staged_app_imports_only_its_own_copy(tmp_path: Path) -> None:
    out = stage("durable-task-scheduler", tmp_path / "app")
    probe = (
        "import sys, json, function_app\n"
        "own = ('api', 'orchestrators', 'activities', 'sqlfleet')\n"
        "files = [m.__file__ for n, m in list(sys.modules.items())\n"
        "         if n.split('.')[0] in own and getattr(m, '__file__', None)]\n"
        "print(json.dumps(files))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=out, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = json.loads(result.stdout)
    assert len(files) > 20
    assert all(Path(name).resolve().is_relative_to(out.resolve()) for name in files), files


def test_the_local_host_runs_a_job_from_the_staged_dts_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = stage("durable-task-scheduler", tmp_path / "app")
    data = tmp_path / "data"
    env = {
        **host_app_settings(),
        "TASKHUB_NAME": "SqlFleetStaged",
        "SQLFLEET_DATA_DIR": str(data),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
        "SQLFLEET_SQLITE_ROOTS": str(tmp_path / "server1"),
    }
    host = HostProcess.start(out, data, env)
    try:
        assert (data / "SqlFleetStaged.sqlite3").exists()  # hubName came from TASKHUB_NAME
        server = tmp_path / "server1"
        make_sqlite_server(server)
        fleet = tmp_path / "fleet.yaml"
        fleet.write_text(
            "target_groups:\n"
            f"  - {{name: Local, members: [{{target_type: server, engine: sqlite, "
            f"server_name: '{server}'}}]}}\n"
            "jobs:\n"
            "  - {name: Staged, steps: [{command: SELECT 1, target_group_name: Local}]}\n"
        )
        address = ["--url", host.base, "--key", str(host.keys.function_key)]
        assert sqlfleet([*address, "apply", "-f", str(fleet)]) == 0
        capsys.readouterr()
        assert sqlfleet([*address, "start", "Staged", "--wait", "--json"]) == 0
        execution = json.loads(capsys.readouterr().out)
        assert execution["lifecycle"] == "Succeeded"
        assert len(execution["steps"][0]["targets"]) == 3
    finally:
        host.stop()
