"""``sqlfleet export``: a host's definitions as a fleet file that ``apply`` takes back unchanged.

Two live local hosts of this module's own: ``source`` gets a fleet with every kind of object, and
its export is applied to ``target``; exporting ``target`` must give the same text again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sqlfleet.cli.client import ApiClient, api_path
from sqlfleet.cli.serve import LocalHost
from sqlfleet.fleetfile import parse_fleet
from tests.cli.conftest import Cli, start_host

PASSWORD = "Exp0rt-never-written-7c1d"

FLEET = """\
credentials:
  - name: jobuser
    kind: password
    username: jobuser
    password: ${EXPORT_TEST_PASSWORD}
    description: runs the steps
  - name: master user
    kind: password
    username: masteruser
    password: ${EXPORT_TEST_PASSWORD}
  - name: vaulted
    kind: keyVault
    username: masteruser
    secret_uri: https://myvault.vault.azure.net/secrets/masteruser-password
  - name: agent-identity
    kind: managedIdentity
    client_id: 0f8fad5b-d9cb-469f-a165-70867728950e
target_groups:
  - name: ServerGroup
    description: every database of server1 but MappingDB
    members:
      - target_type: server
        server_name: server1.database.windows.net
        refresh_credential_name: vaulted
      - membership_type: exclude
        target_type: database
        server_name: server1.database.windows.net
        database_name: MappingDB
  - name: PoolGroup
    members:
      - target_type: elasticPool
        server_name: server1.database.windows.net
        elastic_pool_name: ElasticPool-1
        refresh_credential_name: agent-identity
  - name: LocalFleet
    members:
      - target_type: database
        engine: postgresql
        server_name: 127.0.0.1
        port: 5432
        database_name: tenant1
      - target_type: server
        engine: sqlite
        server_name: ${SERVER}
jobs:
  - name: CreateTableTest
    description: Create Table Test
    enabled: true
    schedule:
      interval_type: Hours
      interval_count: 1
      start_time: 2025-01-01T00:00:00Z
      end_time: 2026-01-01T00:00:00Z
      time_zone: Europe/Paris
    parameters:
      - name: table_name
        default: Test
      - name: rows
        type: int
        default: 3
    steps:
      - step_name: create-table
        target_group_name: ServerGroup
        credential_name: jobuser
        command: |
          IF NOT EXISTS (SELECT * FROM sys.tables WHERE name = 'Test')
              CREATE TABLE dbo.Test (TestId int NOT NULL);  -- costs $(job_name) nothing
        retry_attempts: 3
        max_parallelism: 10
        on_failure: continue
      - step_name: count-tables
        target_group_name: PoolGroup
        credential_name: agent-identity
        command: "SELECT DB_NAME() AS database_name, COUNT(*) AS tables FROM sys.tables; -- ${x}"
        output:
          server_name: reports.database.windows.net
          database_name: Reports
          table_name: TableCounts
          credential_name: agent-identity
  - name: Once
    steps:
      - command: SELECT 1
        target_group_name: LocalFleet
"""


def _host(factory: pytest.TempPathFactory, name: str) -> Iterator[LocalHost]:
    host = start_host(factory.mktemp(name), factory.getbasetemp())
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    yield from _host(tmp_path_factory, "export-source")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    yield from _host(tmp_path_factory, "export-target")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sqlite_server: Path) -> None:
    monkeypatch.setenv("EXPORT_TEST_PASSWORD", PASSWORD)
    monkeypatch.setenv("SERVER", str(sqlite_server))


def cli_for(host: LocalHost, capsys: pytest.CaptureFixture[str]) -> Cli:
    assert host.url
    return Cli(host.url, capsys, host.function_key)


def summary(report: dict) -> dict:
    return report["summary"]


def test_export_apply_export_is_a_fixed_point(
    source: LocalHost,
    target: LocalHost,
    env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first_cli, second_cli = cli_for(source, capsys), cli_for(target, capsys)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    first_cli.ok("apply", "-f", str(fleet))

    exported = tmp_path / "exported.yaml"
    run = first_cli.ok("export", "--output", str(exported))
    assert "JOBUSER_PASSWORD" in run.err and "MASTER_USER_PASSWORD" in run.err
    text = exported.read_text()
    assert PASSWORD not in text
    document = yaml.safe_load(text)
    credentials = {c["name"]: c for c in document["credentials"]}
    assert credentials["jobuser"]["password"] == "${JOBUSER_PASSWORD}"
    assert credentials["master user"]["password"] == "${MASTER_USER_PASSWORD}"
    assert credentials["vaulted"]["secret_uri"].endswith("/secrets/masteruser-password")
    assert credentials["agent-identity"] == {
        "name": "agent-identity",
        "kind": "managedIdentity",
        "client_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    }
    assert all("target_id" not in m for g in document["target_groups"] for m in g["members"])
    steps = {j["name"]: j["steps"] for j in document["jobs"]}
    assert steps["CreateTableTest"][1]["command"].endswith("-- ${x}")  # SQL is never expanded
    assert steps["Once"][0]["step_name"] == "JobStep"
    jobs = {j["name"]: j for j in document["jobs"]}
    assert jobs["CreateTableTest"]["schedule"]["time_zone"] == "Europe/Paris"
    assert jobs["CreateTableTest"]["parameters"] == [
        {"name": "table_name", "type": "string", "default": "Test", "secret": False},
        {"name": "rows", "type": "int", "default": 3, "secret": False},
    ]
    assert "cron" not in jobs["Once"]["schedule"] and "parameters" not in jobs["Once"]

    # The variables the header names are the ones apply reads.
    monkeypatch.setenv("JOBUSER_PASSWORD", PASSWORD)
    monkeypatch.setenv("MASTER_USER_PASSWORD", PASSWORD)
    again = first_cli.json("apply", "-f", str(exported), "--dry-run")
    assert summary(again) == {"create": 0, "change": 0, "delete": 0, "unchanged": 9}, again

    created = second_cli.json("apply", "-f", str(exported))
    assert summary(created) == {"create": 9, "change": 0, "delete": 0, "unchanged": 0}
    second = tmp_path / "second.yaml"
    second_cli.ok("export", "-o", str(second))
    assert second.read_text() == text
    assert summary(second_cli.json("apply", "-f", str(second)))["unchanged"] == 9
    assert second_cli.json("jobs", "show", "CreateTableTest")["job_version"] == 1


def test_export_to_stdout_is_a_fleet_file(
    source: LocalHost, env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli = cli_for(source, capsys)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    cli.ok("apply", "-f", str(fleet))
    run = cli.ok("export")
    assert run.out.startswith("# A SQL Fleet fleet file")
    parsed = parse_fleet(run.out, "stdout", {"JOBUSER_PASSWORD": "x", "MASTER_USER_PASSWORD": "y"})
    assert set(parsed.jobs) >= {"CreateTableTest", "Once"}
    assert parsed.credentials["jobuser"].password is not None
    assert parsed.credentials["jobuser"].password.get_secret_value() == "x"
    as_json = cli.json("export")
    assert as_json["file"] is None and as_json["text"] == run.out
    assert as_json["password_variables"]["jobuser"] == "JOBUSER_PASSWORD"


def test_key_vault_turns_passwords_into_secret_uris(
    source: LocalHost, env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli = cli_for(source, capsys)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    cli.ok("apply", "-f", str(fleet))
    run = cli.ok("export", "--key-vault", "https://sqlfleet-kv.vault.azure.net/")
    assert "password:" not in run.out and PASSWORD not in run.out
    credentials = {c["name"]: c for c in yaml.safe_load(run.out)["credentials"]}
    assert credentials["master user"] == {
        "name": "master user",
        "kind": "keyVault",
        "username": "masteruser",
        "secret_uri": "https://sqlfleet-kv.vault.azure.net/secrets/master-user-password",
    }
    assert "PASSWORD" not in run.err  # nothing to set: the secrets are in the vault


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--key-vault", "http://myvault.vault.azure.net"], "expected a Key Vault URL"),
        (["--key-vault", "https://myvault.vault.azure.net/secrets/x"], "expected a Key Vault URL"),
        (["--output", "/no/such/folder/fleet.yaml"], "folder /no/such/folder does not exist"),
    ],
)
def test_bad_options_are_usage_errors(
    source: LocalHost, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    run = cli_for(source, capsys)("export", *args)
    assert run.code == 2
    assert expected in run.error_line


def test_a_value_apply_would_expand_is_refused_by_name(
    source: LocalHost,
    capsys: pytest.CaptureFixture[str],
    unique: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    assert source.url
    client = ApiClient(source.url, source.function_key)
    request.addfinalizer(client.close)
    name = f"dollar-{unique}"
    client.put(api_path("jobs", name), {"description": "costs ${HOME} dollars"})
    try:
        output = tmp_path / "fleet.yaml"
        run = cli_for(source, capsys)("export", "-o", str(output))
        assert run.code == 2
        assert ".description: 'costs ${HOME} dollars' holds '${...}'" in run.error_line
        assert not output.exists()
    finally:
        client.delete(api_path("jobs", name))
