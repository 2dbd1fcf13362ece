"""``sqlfleet rerun`` (the failed targets, or those of --lifecycle, as a new execution) and
``sqlfleet ui`` (the page's address with the key in its fragment), against a live host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sqlfleet.cli.serve import LocalHost
from tests.cli.conftest import Cli
from tests.cli.test_executions import make_job

FAIL_ON_DB2 = (
    "SELECT '$(target_database_name)' AS db; "
    "SELECT CASE WHEN '$(target_database_name)' = 'db2' THEN abs(-9223372036854775808) END;"
)


@pytest.fixture
def failed(cli: Cli, unique: str, sqlite_server: Path) -> str:
    """An execution that ended Failed on db2 and Succeeded on db1 and db3."""
    name = f"rerun_{unique}"
    make_job(cli, name, sqlite_server, FAIL_ON_DB2, "--retry-attempts", "0")
    execution_id = cli.ok("start", name, "--quiet").out.strip()
    assert cli("wait", execution_id).code == 1
    return execution_id


def get(cli: Cli, execution_id: str) -> dict[str, Any]:
    """``get --json`` (which exits 1 for a failed execution)."""
    document: dict[str, Any] = cli("get", execution_id, "--json").json
    return document


def databases(cli: Cli, execution_id: str) -> list[str]:
    steps = get(cli, execution_id)["steps"]
    return sorted(t["target_database_name"] for t in steps[0]["targets"])


def test_rerun_wait_runs_only_the_failed_target(cli: Cli, failed: str) -> None:
    run = cli("rerun", failed, "--wait", "--json")
    assert run.code == 1, run.err  # db2 fails again
    rerun = run.json
    assert rerun["rerun_of_job_execution_id"] == failed
    assert rerun["lifecycle"] == "Failed"
    assert databases(cli, rerun["job_execution_id"]) == ["db2"]
    assert get(cli, failed)["reruns"] == [rerun["job_execution_id"]]


def test_rerun_with_lifecycles_and_quiet(cli: Cli, failed: str) -> None:
    new_id = cli.ok("rerun", failed, "--lifecycle", "succeeded", "--quiet").out.strip()
    assert cli("wait", new_id).code == 0
    assert databases(cli, new_id) == ["db1", "db3"]
    shown = cli.ok("rerun", failed, "--lifecycle", "not-succeeded")
    assert "job_execution_id" in shown.out and "sqlfleet wait" in shown.out


def test_rerun_refusals_are_one_line(cli: Cli, failed: str) -> None:
    bad = cli("rerun", failed, "--lifecycle", "Failed,Broken")
    assert bad.code == 2 and "'Broken' is not a lifecycle" in bad.error_line
    nothing = cli("rerun", failed, "--lifecycle", "Canceled")
    assert nothing.code == 2 and "nothing to rerun" in nothing.error_line
    missing = cli("rerun", "00000000-0000-0000-0000-000000000000")
    assert missing.code == 2 and "does not exist" in missing.error_line


def test_ui_prints_the_page_with_the_key_in_its_fragment(cli: Cli, local_host: LocalHost) -> None:
    link = cli.ok("ui").out.strip()
    assert link == f"{local_host.url}/api/ui/#key={local_host.function_key}"
    assert cli.ok("ui", "--no-key").out.strip() == f"{local_host.url}/api/ui/"
    assert cli.json("ui")["url"] == f"{local_host.url}/api/ui/"
