"""Fleet files: parsing, the one-line errors (file:line: field: reason) and planning."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlfleet.fleetfile import FleetFileError, load_fleet, parse_fleet, plan_changes

ROOT = Path(__file__).resolve().parents[2]
ENV = {"PW": "from-the-environment", "DATA": "/srv/fleet"}

GOOD = """\
credentials:
  - name: jobuser
    kind: password
    username: jobuser
    password: ${PW}
  - name: vault
    kind: keyVault
    username: jobuser
    secret_uri: https://fleetvault.vault.azure.net/secrets/sql-password
target_groups:
  - name: ServerGroup
    members:
      - target_type: server
        engine: sqlite
        server_name: ${DATA}/server1
      - membership_type: exclude
        target_type: database
        engine: sqlite
        server_name: ${DATA}/server1
        database_name: db2
jobs:
  - name: Job1
    steps:
      - step_name: step1
        command: SELECT '$(job_name)', '${NOT_EXPANDED}'
        credential_name: jobuser
        target_group_name: ServerGroup
        retry_attempts: 3
"""


def error_of(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(FleetFileError) as caught:
        parse_fleet(text, "fleet.yaml", ENV if environ is None else environ)
    return str(caught.value)


def test_a_good_file_becomes_validated_documents() -> None:
    fleet = parse_fleet(GOOD, "fleet.yaml", ENV)
    assert list(fleet.credentials) == ["jobuser", "vault"]
    assert fleet.credentials["jobuser"].password.get_secret_value() == "from-the-environment"
    members = fleet.target_groups["ServerGroup"].members
    assert members[0].server_name == "/srv/fleet/server1"
    assert members[1].membership_type.value == "exclude"
    step = fleet.jobs["Job1"].steps[0]
    # SQL text is sent as written: neither $(script variables) nor ${...} are touched.
    assert step.command == "SELECT '$(job_name)', '${NOT_EXPANDED}'"
    assert step.retry_attempts == 3 and step.step_timeout_seconds == 43200


def test_unknown_field_names_file_line_field_and_suggestion() -> None:
    text = GOOD.replace("        database_name: db2", "        databse_name: db2")
    assert error_of(text) == (
        "fleet.yaml:20: target_groups[0].members[1].databse_name: unknown field "
        "'databse_name' (did you mean 'database_name'?)"
    )


def test_unknown_section_is_refused() -> None:
    assert error_of(GOOD + "schedules: []\n") == (
        "fleet.yaml:29: schedules: unknown field 'schedules'"
    )


def test_wrong_type_names_the_field_and_line() -> None:
    text = GOOD.replace("retry_attempts: 3", "retry_attempts: three")
    assert error_of(text) == (
        "fleet.yaml:28: jobs[0].steps[0].retry_attempts: Input should be a valid integer"
    )


def test_a_literal_password_is_refused() -> None:
    text = GOOD.replace("password: ${PW}", "password: hunter2")
    message = error_of(text)
    assert message.startswith(
        "fleet.yaml:5: credentials[0].password: a literal password is not allowed"
    )
    assert "hunter2" not in message
    # A default value would be a literal too.
    assert "literal password" in error_of(GOOD.replace("${PW}", "${PW:-hunter2}"))


def test_a_missing_environment_variable_is_named() -> None:
    assert error_of(GOOD, {"DATA": "/x"}) == (
        "fleet.yaml:5: credentials[0].password: environment variable PW is not set"
    )


def test_model_rules_and_duplicates() -> None:
    text = GOOD.replace(
        "    secret_uri: https://fleetvault.vault.azure.net/secrets/sql-password\n", ""
    )
    assert error_of(text) == (
        "fleet.yaml:6: credentials[1].secret_uri: a keyVault credential needs secret_uri, e.g. "
        "https://myvault.vault.azure.net/secrets/sql-password"
    )
    twice = GOOD.replace("  - name: vault", "  - name: jobuser")
    assert (
        error_of(twice)
        == "fleet.yaml:6: credentials[1].name: credential 'jobuser' is defined twice"
    )
    assert error_of("jobs: [{description: x}]\n") == "fleet.yaml:1: jobs[0].name: is required"
    assert error_of("jobs: {a: 1}\n") == "fleet.yaml:1: jobs: expected a list of entries"


def test_yaml_syntax_errors_have_a_line() -> None:
    assert error_of("credentials:\n  - name: [unclosed\n").startswith("fleet.yaml:3: ")


def test_relative_sqlite_folders_are_resolved_against_the_base_dir(tmp_path: Path) -> None:
    text = GOOD.replace("${DATA}/server1", "data/server1")
    fleet = parse_fleet(text, "fleet.yaml", ENV, base_dir=tmp_path)
    assert fleet.target_groups["ServerGroup"].members[0].server_name == str(
        tmp_path / "data/server1"
    )


def test_missing_credential_reference_is_reported_when_planning() -> None:
    fleet = parse_fleet(
        GOOD.replace("credential_name: jobuser", "credential_name: JobRun"), "f.yaml", ENV
    )
    with pytest.raises(FleetFileError) as caught:
        plan_changes(fleet, [], [], [])
    assert str(caught.value) == (
        "f.yaml:26: jobs[0].steps[0].credential_name: credential 'JobRun' is defined neither "
        "in the file nor on the server; add it under credentials:"
    )


def test_plan_orders_creates_by_dependency_and_prunes_in_reverse() -> None:
    fleet = parse_fleet(GOOD, "fleet.yaml", ENV)
    current_job = {
        "name": "Old", "job_id": "00000000-0000-0000-0000-000000000001", "description": "",
        "enabled": False, "schedule": {}, "job_version": 0, "steps": [],
        "created_time": "2025-01-01T00:00:00Z", "modified_time": "2025-01-01T00:00:00Z",
    }  # fmt: skip
    plan = plan_changes(fleet, [], [], [current_job], prune=True)
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [
        ("create", "credential", "jobuser"),
        ("create", "credential", "vault"),
        ("create", "target group", "ServerGroup"),
        ("create", "job", "Job1"),
        ("delete", "job", "Old"),
    ]
    assert plan.changes[0].document["password"] == "from-the-environment"
    assert "from-the-environment" not in repr(plan)
    assert plan.summary() == "4 to create, 0 to change, 1 to delete, 0 unchanged"


def test_the_example_fleet_file_is_valid() -> None:
    fleet = load_fleet(ROOT / "examples" / "fleet.yaml", {"SQLFLEET_DEMO_PASSWORD": "x"})
    assert list(fleet.target_groups) == ["ServerGroup", "ServerGroupExcludingDb2"]
    assert [s.step_name for s in fleet.jobs["Job1"].steps] == ["step1", "step2"]
