"""``sqlfleet apply`` against a live host of its own (``--prune`` deletes what is not declared)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlfleet.cli.serve import LocalHost
from tests.cli.conftest import Cli, start_host

FLEET = """\
credentials:
  - name: jobuser
    kind: password
    username: jobuser
    password: ${SQLFLEET_TEST_PASSWORD}
target_groups:
  - name: ServerGroup
    members:
      - {target_type: server, engine: sqlite, server_name: "${SERVER}"}
jobs:
  - name: Job1
    description: two steps
    steps:
      - step_name: step1
        command: CREATE TABLE IF NOT EXISTS Step1Table (TestId int NOT NULL);
        credential_name: jobuser
        target_group_name: ServerGroup
      - step_name: step2
        command: CREATE TABLE IF NOT EXISTS Step2Table (TestId int NOT NULL);
        credential_name: jobuser
        target_group_name: ServerGroup
        retry_attempts: 2
"""


@pytest.fixture(scope="module")
def apply_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    host = start_host(tmp_path_factory.mktemp("apply-host"), tmp_path_factory.getbasetemp())
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def acli(apply_host: LocalHost, capsys: pytest.CaptureFixture[str]) -> Cli:
    assert apply_host.url
    return Cli(apply_host.url, capsys, apply_host.function_key)


@pytest.fixture
def fleet_file(tmp_path: Path, sqlite_server: Path, password_env: str, monkeypatch) -> Path:
    monkeypatch.setenv("SERVER", str(sqlite_server))
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    return path


def actions(report: dict) -> list[tuple[str, str, str]]:
    return [(c["action"], c["kind"], c["name"]) for c in report["changes"]]


def test_apply_is_idempotent_and_reports_changes(acli: Cli, fleet_file: Path) -> None:
    dry = acli.json("apply", "-f", str(fleet_file), "--dry-run")
    assert dry["dry_run"] is True
    assert dry["summary"] == {"create": 3, "change": 0, "delete": 0, "unchanged": 0}
    assert acli.json("jobs", "list") == []  # the dry run changed nothing

    first = acli.json("apply", "-f", str(fleet_file))
    assert actions(first) == [
        ("create", "credential", "jobuser"),
        ("create", "target group", "ServerGroup"),
        ("create", "job", "Job1"),
    ]
    job = acli.json("jobs", "show", "Job1")
    assert job["job_version"] == 1 and [s["step_name"] for s in job["steps"]] == ["step1", "step2"]

    second = acli.ok("apply", "-f", str(fleet_file))
    assert "no changes (3 unchanged)" in second.out
    assert acli.json("jobs", "show", "Job1")["job_version"] == 1

    fleet_file.write_text(
        fleet_file.read_text()
        .replace("Step2Table (TestId int NOT NULL)", "Step2Table (TestId bigint NOT NULL)")
        .replace("description: two steps", "description: still two steps")
    )
    changed = acli.json("apply", "-f", str(fleet_file))
    change = [c for c in changed["changes"] if c["action"] == "change"]
    assert change == [
        {"action": "change", "kind": "job", "name": "Job1",
         "fields": ["description", "steps[1].command"]},
    ]  # fmt: skip
    assert acli.json("jobs", "show", "Job1")["job_version"] == 2
    table = acli.ok("apply", "-f", str(fleet_file), "--update-secrets")
    assert "credential" in table.out and "password" in table.out
    assert "Pa55-word-never-printed" not in table.out


def test_prune_deletes_what_the_file_does_not_declare(acli: Cli, fleet_file: Path) -> None:
    acli.ok("apply", "-f", str(fleet_file))
    acli.ok("target-groups", "create", "Leftover")
    acli.ok("jobs", "create", "OldJob")
    without = acli.json("apply", "-f", str(fleet_file), "--dry-run")
    assert without["summary"]["delete"] == 0
    pruned = acli.json("apply", "-f", str(fleet_file), "--prune")
    assert [a for a in actions(pruned) if a[0] == "delete"] == [
        ("delete", "job", "OldJob"),
        ("delete", "target group", "Leftover"),
    ]
    assert [g["name"] for g in acli.json("target-groups", "list")] == ["ServerGroup"]
    assert [j["name"] for j in acli.json("jobs", "list")] == ["Job1"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "        retry_attempts: 2",
            "        retry_atempts: 2",
            ":22: jobs[0].steps[1].retry_atempts: unknown field 'retry_atempts' "
            "(did you mean 'retry_attempts'?)",
        ),
        (
            "        retry_attempts: 2",
            "        retry_attempts: [2]",
            ":22: jobs[0].steps[1].retry_attempts: Input should be a valid integer",
        ),
        (
            "        credential_name: jobuser\n        target_group_name: ServerGroup\n"
            "        retry_attempts: 2",
            "        credential_name: JobRun\n        target_group_name: ServerGroup\n"
            "        retry_attempts: 2",
            ":20: jobs[0].steps[1].credential_name: credential 'JobRun' is defined neither in "
            "the file nor on the server; add it under credentials:",
        ),
    ],
    ids=["unknown-field", "wrong-type", "missing-credential"],
)
def test_a_bad_fleet_file_is_one_error_line_and_exit_2(
    acli: Cli, fleet_file: Path, old: str, new: str, expected: str
) -> None:
    text = fleet_file.read_text()
    assert old in text
    fleet_file.write_text(text.replace(old, new))
    run = acli("apply", "-f", str(fleet_file))
    assert run.code == 2
    assert run.error_line == f"error: {fleet_file}{expected}"
    assert run.out == ""


def test_a_missing_fleet_file(acli: Cli, tmp_path: Path) -> None:
    run = acli("apply", "-f", str(tmp_path / "nope.yaml"))
    assert run.code == 2
    assert (
        run.error_line
        == f"error: {tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"
    )


NOTIFY = """\
    notifications:
      - name: ops
        lifecycles: [Failed, TimedOut]
        channel: webhook
        url: https://hooks.example.org/sqlfleet
        secret_credential_name: jobuser
"""


def test_notification_rules_in_fleet_files_and_the_cli(
    acli: Cli, fleet_file: Path, tmp_path: Path
) -> None:
    text = fleet_file.read_text()
    fleet_file.write_text(
        text.replace("    description: two steps\n", "    description: two steps\n" + NOTIFY)
    )
    applied = acli.json("apply", "-f", str(fleet_file))
    (job,) = [c for c in applied["changes"] if c["kind"] == "job"]
    assert job["action"] == "create" or "notifications" in job["fields"]
    (rule,) = acli.json("notifications", "list", "Job1")
    assert rule["name"] == "ops" and rule["lifecycles"] == ["Failed", "TimedOut"]
    assert "no changes" in acli.ok("apply", "-f", str(fleet_file)).out

    acli.ok(
        "notifications", "add", "Job1", "mail", "--on", "Failed", "--email", "dba@example.org",
        "--from", "sqlfleet@example.org", "--smtp-server", "smtp.example.org",
    )  # fmt: skip
    assert [r["name"] for r in acli.json("notifications", "list", "Job1")] == ["ops", "mail"]
    drift = acli.json("apply", "-f", str(fleet_file), "--dry-run")
    assert [c["fields"] for c in drift["changes"] if c["action"] == "change"] == [["notifications"]]
    exported = tmp_path / "exported.yaml"
    acli.ok("export", "--output", str(exported))
    assert "smtp_server: smtp.example.org" in exported.read_text()

    acli.ok("notifications", "delete", "Job1", "mail")
    assert [r["name"] for r in acli.json("notifications", "list", "Job1")] == ["ops"]
    bad = acli("notifications", "add", "Job1", "x", "--webhook", "ftp://example.org/x",
               "--secret-credential", "jobuser")  # fmt: skip
    assert bad.code == 2 and "notifications[1].url" in bad.error_line
    neither = acli("notifications", "add", "Job1", "x")
    assert neither.code == 2 and "--webhook URL or --email" in neither.error_line


def test_deliveries_of_an_execution_in_the_cli(acli: Cli, fleet_file: Path) -> None:
    from tests.support.http_receiver import HttpReceiver

    acli.ok("apply", "-f", str(fleet_file))
    with HttpReceiver(lambda request: (200, [], b"")) as receiver:
        acli.ok(
            "notifications", "add", "Job1", "done", "--on", "Succeeded",
            "--webhook", receiver.base + "/done", "--secret-credential", "jobuser",
        )  # fmt: skip
        started = acli.json("start", "Job1", "--wait")
        receiver.wait_for_requests(1, timeout=10)
    execution_id = started["job_execution_id"]

    def delivered() -> list[dict[str, object]]:
        found = acli.json("notifications", "deliveries", execution_id)
        return found if found and found[0]["status"] == "Delivered" else []

    from tests.jobs.host import poll

    (delivery,) = poll(delivered, 10, "the delivery")
    assert delivery["rule_name"] == "done" and delivery["attempts"] == 1
    table = acli.ok("notifications", "deliveries", execution_id).out
    assert "Delivered" in table and "done" in table
    acli.ok("notifications", "delete", "Job1", "done")
