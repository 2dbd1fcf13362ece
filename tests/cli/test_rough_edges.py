"""Issue 16's rough edges, through a live host: an empty password when asked for, a managed
identity refused on a PostgreSQL step when it is saved, the API's enum spellings, CLI errors
that name CLI commands, ``--version``, and ``serve`` on a busy port."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from sqlfleet.cli.client import ApiClient, ApiError
from tests.cli.conftest import SQLFLEET, Cli, subprocess_environment
from tests.support.servers import ServerAddress


def test_empty_password_only_when_asked_and_it_signs_in(
    cli: Cli, unique: str, mariadb_server: ServerAddress, request: pytest.FixtureRequest
) -> None:
    if mariadb_server.password:
        pytest.skip("the MariaDB server's root has a password here")
    refused = cli("credentials", "create", f"root_{unique}", "--kind", "password",
                  "--username", "root", "--password-env", "NO_SUCH_VARIABLE_16")  # fmt: skip
    assert refused.code == 2 and "NO_SUCH_VARIABLE_16" in refused.error_line
    api = ApiClient(cli.url, cli.key)
    request.addfinalizer(api.close)
    with pytest.raises(ApiError) as error:
        api.put(f"/api/credentials/x_{unique}", {"kind": "password", "username": "root"})
    assert error.value.status == 422 and error.value.field == "password"
    assert "empty_password" in error.value.message

    credential = cli.json("credentials", "create", f"root_{unique}", "--kind", "password",
                          "--username", "root", "--empty-password")  # fmt: skip
    assert credential["has_secret"] is True
    group = f"maria_{unique}"
    cli.ok("target-groups", "create", group)
    cli.ok("members", "add", group, "--target-type", "database", "--engine", "mysql",
           "--server-name", mariadb_server.host, "--port", str(mariadb_server.port),
           "--database-name", "mysql")  # fmt: skip
    cli.ok("jobs", "create", f"job_{unique}")
    cli.ok("steps", "create", f"job_{unique}", "--command", "SELECT CURRENT_USER() AS who",
           "--target-group", group, "--credential", f"root_{unique}",
           "--retry-attempts", "0")  # fmt: skip
    final = cli.json("start", f"job_{unique}", "--wait")
    assert final["lifecycle"] == "Succeeded", final
    output = cli.json("receive", final["job_execution_id"])
    assert output[0]["result"]["rows"][0][0].startswith("root@")


def test_managed_identity_is_refused_on_a_postgresql_step_when_saved(cli: Cli, unique: str) -> None:
    cli.ok("credentials", "create", f"mi_{unique}", "--kind", "managedIdentity")
    group = f"pg_{unique}"
    cli.ok("target-groups", "create", group)
    cli.ok("members", "add", group, "--target-type", "database", "--engine", "postgresql",
           "--server-name", "127.0.0.1", "--database-name", "postgres")  # fmt: skip
    cli.ok("jobs", "create", f"job_{unique}")
    refused = cli("steps", "create", f"job_{unique}", "--command", "SELECT 1",
                  "--target-group", group, "--credential", f"mi_{unique}")  # fmt: skip
    assert refused.code == 2
    line = refused.error_line
    assert "credential_name" in line and "managed identity" in line and "postgresql" in line
    assert cli.json("steps", "list", f"job_{unique}") == []
    # A server member whose databases a managed identity would list: refused too.
    server = cli("members", "add", group, "--target-type", "server", "--engine", "postgresql",
                 "--server-name", "127.0.0.1", "--refresh-credential", f"mi_{unique}")  # fmt: skip
    assert server.code == 2 and "refresh_credential_name" in server.error_line


def test_the_api_takes_the_cli_spellings(
    cli: Cli, unique: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    api = ApiClient(cli.url, cli.key)
    request.addfinalizer(api.close)
    api.put(f"/api/target-groups/g_{unique}", {"members": [
        {"target_type": "SqlServer", "membership_type": "Include", "engine": "sqlite",
         "server_name": str(tmp_path)},
    ]})  # fmt: skip
    assert api.get(f"/api/target-groups/g_{unique}")["members"][0]["target_type"] == "server"
    for spelling, stored in (("Hour", "hours"), ("minute", "minutes"), ("Weeks", "weeks")):
        job = api.put(
            f"/api/jobs/j_{unique}",
            {"schedule": {"interval_type": spelling}, "steps": [
                {"command": "SELECT 1", "target_group_name": f"g_{unique}",
                 "on_failure": "Continue"},
            ]},
        )  # fmt: skip
        assert job["schedule"]["interval_type"] == stored
        assert job["steps"][0]["on_failure"] == "continue"
    with pytest.raises(ApiError) as error:
        api.put(f"/api/jobs/j_{unique}", {"schedule": {"interval_type": "Fortnight"}})
    assert error.value.status == 422 and error.value.field == "schedule.interval_type"


def test_cli_errors_name_cli_commands(cli: Cli, unique: str) -> None:
    missing = cli("start", f"Jbo_{unique}")
    assert missing.code == 2
    assert f"'sqlfleet jobs create Jbo_{unique}'" in missing.error_line
    assert "/api/" not in missing.error_line
    cli.ok("jobs", "create", f"empty_{unique}")
    empty = cli("start", f"empty_{unique}")
    assert f"'sqlfleet steps create empty_{unique} ...'" in empty.error_line
    assert "/api/" not in empty.error_line


def test_version(cli: Cli) -> None:
    run = cli("--version")
    assert run.code == 0 and run.out.startswith("sqlfleet ") and run.out.split()[1][0].isdigit()


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [
                SQLFLEET,
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "host"),
            ],  # fmt: skip
            env=subprocess_environment(f"http://127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "in use" in line]
    assert len(lines) == 1 and f"port {port} on 127.0.0.1 is in use" in lines[0], done.stderr
