"""Definition verbs (credentials, target groups, members, jobs, steps) against a live host."""

from __future__ import annotations

import os
from pathlib import Path

from sqlfleet.cli import main
from sqlfleet.cli.localkeys import local_function_key
from sqlfleet.cli.serve import LocalHost
from tests.cli.conftest import Cli
from tests.support.servers import free_port


def test_credentials_create_list_show_delete_never_print_the_password(
    cli: Cli, unique: str, password_env: str
) -> None:
    name = f"cred_{unique}"
    created = cli.json(
        "credentials", "create", name, "--kind", "password", "--username", "jobuser",
        "--password-env", password_env, "--description", "tutorial",
    )  # fmt: skip
    assert created["name"] == name and created["kind"] == "password"
    assert created["has_secret"] is True and "password" not in created

    listed = cli.json("credentials", "list")
    mine = [c for c in listed if c["name"] == name]
    assert len(mine) == 1
    assert set(mine[0]) >= {"name", "credential_id", "kind", "username", "has_secret"}

    table = cli.ok("credentials", "list")
    assert name in table.out and "(stored, encrypted)" in table.out
    shown = cli.ok("credentials", "show", name)
    assert "jobuser" in shown.out and "tutorial" in shown.out
    for run in (table, shown):
        assert "Pa55-word-never-printed" not in run.out + run.err

    again = cli("credentials", "create", name, "--kind", "password", "--username", "u",
                "--password-env", password_env)  # fmt: skip
    assert again.code == 2
    assert "already exists" in again.error_line

    deleted = cli.json("credentials", "delete", name)
    assert deleted == {"name": name, "deleted": True}
    missing = cli("credentials", "show", name)
    assert missing.code == 2
    assert missing.error_line.startswith(f"error: credential '{name}' does not exist")


def test_key_vault_and_managed_identity_credentials(cli: Cli, unique: str) -> None:
    vault = cli.json(
        "credentials", "create", f"kv_{unique}", "--kind", "keyVault", "--username", "u",
        "--secret-uri", "https://fleetvault.vault.azure.net/secrets/sql-password",
    )  # fmt: skip
    assert vault["kind"] == "keyVault"
    assert vault["secret_uri"] == "https://fleetvault.vault.azure.net/secrets/sql-password"
    identity = cli.json("credentials", "create", f"mi_{unique}", "--kind", "managedIdentity")
    assert identity["kind"] == "managedIdentity" and identity["has_secret"] is False

    bad = cli("credentials", "create", f"kv2_{unique}", "--kind", "keyVault", "--username", "u",
              "--secret-uri", "http://not-a-vault/x")  # fmt: skip
    assert bad.code == 2
    assert "secret_uri" in bad.error_line


def test_password_must_come_from_somewhere(cli: Cli, unique: str, monkeypatch) -> None:
    monkeypatch.delenv("SQLFLEET_NOT_SET", raising=False)
    run = cli("credentials", "create", f"c_{unique}", "--kind", "password", "--username", "u",
              "--password-env", "SQLFLEET_NOT_SET")  # fmt: skip
    assert run.code == 2
    assert run.error_line == "error: environment variable SQLFLEET_NOT_SET is not set or empty"


def test_target_group_members_and_preview(cli: Cli, unique: str, sqlite_server: Path) -> None:
    group = f"group_{unique}"
    assert cli.json("target-groups", "create", group, "--description", "d")["members"] == []
    server = cli.json(
        "members", "add", group, "--target-type", "SqlServer", "--engine", "sqlite",
        "--server-name", str(sqlite_server),
    )  # fmt: skip
    assert server["target_type"] == "server" and server["membership_type"] == "include"
    excluded = cli.json(
        "members", "add", group, "--target-type", "SqlDatabase", "--engine", "sqlite",
        "--server-name", str(sqlite_server), "--database-name", "db2", "--exclude",
    )  # fmt: skip
    assert excluded["membership_type"] == "exclude" and excluded["database_name"] == "db2"

    members = cli.json("members", "list", group)
    assert [m["target_id"] for m in members] == [server["target_id"], excluded["target_id"]]
    preview = cli.json("target-groups", "preview", group)
    assert [t["database_name"] for t in preview] == ["db1", "db3"]
    assert set(preview[0]) >= {"engine", "server_name", "port", "database_name"}
    table = cli.ok("target-groups", "preview", group)
    assert "expands to 2 database(s)" in table.out

    shown = cli.ok("target-groups", "show", group)
    assert excluded["target_id"] in shown.out and "exclude" in shown.out
    assert group in cli.ok("target-groups", "list").out

    assert cli.json("members", "delete", group, excluded["target_id"])["deleted"] is True
    assert [t["database_name"] for t in cli.json("target-groups", "preview", group)] == [
        "db1", "db2", "db3",
    ]  # fmt: skip
    cli.ok("target-groups", "delete", group)
    assert cli("target-groups", "show", group).code == 2


def test_member_rules_come_back_as_one_line_naming_the_field(cli: Cli, unique: str) -> None:
    group = f"group_{unique}"
    cli.ok("target-groups", "create", group)
    run = cli("members", "add", group, "--target-type", "database", "--server-name", "s1")
    assert run.code == 2
    assert "database_name" in run.error_line
    bad_type = cli("members", "add", group, "--target-type", "shardmap", "--server-name", "s")
    assert bad_type.code == 2  # argparse refuses it before any request
    assert "not a target type" in bad_type.err


def test_jobs_and_steps_with_elastic_jobs_parameters(cli: Cli, unique: str, tmp_path) -> None:
    group, job = f"g_{unique}", f"job_{unique}"
    cli.ok("target-groups", "create", group)
    created = cli.json(
        "jobs", "create", job, "--description", "Create Table Test",
        "--schedule-interval-type", "Hour", "--schedule-interval-count", "2",
    )  # fmt: skip
    assert created["schedule"]["interval_type"] == "hours"
    assert created["schedule"]["interval_count"] == 2
    assert created["enabled"] is False and created["job_version"] == 0

    updated = cli.json("jobs", "update", job, "--enabled")
    assert updated["enabled"] is True and updated["description"] == "Create Table Test"
    assert updated["schedule"]["interval_type"] == "hours"

    step = cli.json(
        "steps", "create", job, "--step-name", "step1", "--command", "SELECT 1",
        "--target-group", group, "--retry-attempts", "3",
        "--initial-retry-interval-seconds", "2", "--max-parallelism", "4",
    )  # fmt: skip
    assert step["job_version"] == 1 and step["step_id"] == 1
    assert step["retry_attempts"] == 3 and step["initial_retry_interval_seconds"] == 2
    # sp_add_jobstep's defaults for what was not given.
    assert step["maximum_retry_interval_seconds"] == 120
    assert step["retry_interval_backoff_multiplier"] == 2.0
    assert step["step_timeout_seconds"] == 43200
    assert step["max_parallelism"] == 4

    script = tmp_path / "step2.sql"
    script.write_text("CREATE TABLE IF NOT EXISTS t (x int);\n")
    second = cli.json(
        "steps", "add", job, "--name", "step2", "--command-file", str(script),
        "--target-group", group, "--output-engine", "sqlite", "--output-server-name",
        str(tmp_path), "--output-database-name", "out", "--output-table-name", "results",
    )  # fmt: skip
    assert second["command"] == script.read_text()
    assert second["output"]["table_name"] == "results"
    assert second["output"]["schema_name"] == "main"

    reset = cli.json("steps", "update", job, "step1", "--max-parallelism", "-1",
                     "--step-timeout-seconds", "60")  # fmt: skip
    assert reset["max_parallelism"] is None and reset["step_timeout_seconds"] == 60
    assert reset["job_version"] == 3
    removed = cli.json("steps", "update", job, "2", "--remove-output")
    assert removed["output"] is None

    steps = cli.json("steps", "list", job)
    assert [s["step_name"] for s in steps] == ["step1", "step2"]
    assert [s["step_name"] for s in cli.json("steps", "list", job, "--version", "1")] == ["step1"]
    assert cli.json("steps", "show", job, "step2")["step_id"] == 2
    shown = cli.ok("jobs", "show", job)
    assert "step1" in shown.out and "every 2 hours" in shown.out
    assert "CREATE TABLE IF NOT EXISTS t" in cli.ok("steps", "show", job, "2").out

    cli.ok("steps", "delete", job, "step1")
    assert [s["step_name"] for s in cli.json("steps", "list", job)] == ["step2"]
    versions = cli.json("jobs", "versions", job)
    assert [v["job_version"] for v in versions][-1] == 5
    assert job in cli.ok("jobs", "list").out

    assert cli("jobs", "create", job).code == 2
    cli.ok("jobs", "delete", job)
    gone = cli("jobs", "show", job)
    assert gone.code == 2 and gone.error_line.startswith(f"error: job '{job}' does not exist")


def test_api_validation_errors_exit_2_with_the_api_message(cli: Cli, unique: str) -> None:
    group, job = f"g_{unique}", f"job_{unique}"
    cli.ok("target-groups", "create", group)
    cli.ok("jobs", "create", job)
    run = cli(
        "steps",
        "create",
        job,
        "--command",
        "SELECT 1",
        "--target-group",
        group,
        "--initial-retry-interval-seconds",
        "10",
        "--maximum-retry-interval-seconds",
        "5",
    )
    assert run.code == 2
    assert "maximum_retry_interval_seconds" in run.error_line
    assert "initial_retry_interval_seconds" in run.error_line
    nothing = cli("steps", "update", job, "1")
    assert nothing.code == 2 and "nothing to change" in nothing.error_line


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("jobs").code == 2
    assert cli("steps", "create", "j", "--target-group", "g").code == 2  # no --command
    assert cli("executions", "--top", "many").code == 2
    assert main(["--url", "ftp://x", "jobs", "list"]) == 2


def test_unreachable_host_is_one_line_and_exit_1(capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code = main(["--url", url, "jobs", "list"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith(f"error: cannot reach the SQL Fleet API at {url}")
    assert len(err.splitlines()) == 1


def test_the_function_key_comes_from_key_or_the_environment(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    host = LocalHost(tmp_path, environ={"DEVHOST_FUNCTION_KEY": "fleet-key-123"})
    url = host.start()
    try:
        monkeypatch.delenv("SQLFLEET_FUNCTION_KEY", raising=False)
        assert main(["--url", url, "jobs", "list"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "401" in err and len(err.strip().splitlines()) == 1
        assert "fleet-key-123" not in err

        assert main(["--url", url, "--key", "fleet-key-123", "jobs", "list", "--json"]) == 0
        assert capsys.readouterr().out.strip() == "[]"
        monkeypatch.setenv("SQLFLEET_FUNCTION_KEY", "fleet-key-123")
        assert main(["--url", url, "credentials", "list", "--json"]) == 0
        assert capsys.readouterr().out.strip() == "[]"
        monkeypatch.setenv("SQLFLEET_FUNCTION_KEY", "wrong")
        assert main(["--url", url, "jobs", "list"]) == 2
    finally:
        host.stop()


def test_a_host_on_this_machine_needs_no_key_on_the_command_line(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    host = LocalHost(tmp_path / "data", record=True)
    url = host.start()
    try:
        monkeypatch.delenv("SQLFLEET_FUNCTION_KEY", raising=False)
        # Noted by the launcher (as `sqlfleet serve` notes its data folder) ...
        assert main(["--url", url, "jobs", "list", "--json"]) == 0
        assert capsys.readouterr().out.strip() == "[]"
        # ... or found in the default data folder.
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "empty-state"))
        assert main(["--url", url, "jobs", "list"]) == 2
        assert "401" in capsys.readouterr().err
        monkeypatch.setenv("SQLFLEET_DATA_DIR", str(tmp_path / "data"))
        assert main(["--url", url, "jobs", "list", "--json"]) == 0
        assert capsys.readouterr().out.strip() == "[]"
        # localhost is this machine too; the key never goes to another one.
        assert local_function_key(url.replace("127.0.0.1", "localhost"), os.environ)
        port = url.rsplit(":", 1)[1]
        assert local_function_key(f"http://192.0.2.1:{port}", os.environ) is None
        assert local_function_key(f"http://attacker.example:{port}", os.environ) is None
    finally:
        host.stop()
