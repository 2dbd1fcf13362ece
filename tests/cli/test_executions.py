"""The PowerShell-jobs verbs (start, get, wait, receive, stop, remove, executions) against a live
host running real jobs on SQLite targets."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.support.servers import wait_until

STATUS_KEYS = {"statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri"}
ROWS = (
    "CREATE TABLE IF NOT EXISTS t (x int);\n"
    "SELECT '$(target_database_name)' AS database_name, 42 AS answer;"
)


def make_job(cli: Cli, name: str, server: Path, command: str, *options: str) -> None:
    group = f"{name}_group"
    cli.ok("target-groups", "create", group)
    cli.ok("members", "add", group, "--target-type", "server", "--engine", "sqlite",
           "--server-name", str(server))  # fmt: skip
    cli.ok("jobs", "create", name)
    cli.ok("steps", "create", name, "--step-name", "step1", "--command", command,
           "--target-group", group, *options)  # fmt: skip


def all_waiting_for_retry(cli: Cli, execution_id: str) -> bool:
    steps = cli.json("get", execution_id)["steps"]
    targets = steps[0]["targets"] if steps else []
    return len(targets) == 3 and all(t["lifecycle"] == "WaitingForRetry" for t in targets)


@pytest.fixture
def job(cli: Cli, unique: str, sqlite_server: Path) -> str:
    name = f"job_{unique}"
    make_job(cli, name, sqlite_server, ROWS)
    return name


def test_start_returns_at_once_with_status_urls_then_wait(cli: Cli, job: str) -> None:
    started = cli.json("start", job)
    assert set(started) >= STATUS_KEYS
    assert started["job_execution_id"] == started["id"]
    assert started["statusQueryGetUri"].startswith(cli.url + "/runtime/webhooks/durabletask/")
    final = cli.json("wait", started["job_execution_id"])
    assert final["lifecycle"] == "Succeeded" and final["is_active"] is False
    targets = final["steps"][0]["targets"]
    assert sorted(t["target_database_name"] for t in targets) == ["db1", "db2", "db3"]
    assert {t["lifecycle"] for t in targets} == {"Succeeded"}

    table = cli.ok("start", job)
    assert "statusQueryGetUri" in table.out and "sqlfleet wait" in table.out
    quiet = cli.ok("start", job, "--quiet").out.strip()
    assert len(quiet) == 36 and cli.json("wait", quiet)["job_execution_id"] == quiet


def test_start_wait_get_and_receive(cli: Cli, job: str) -> None:
    final = cli.json("start", job, "--wait")
    execution_id = final["job_execution_id"]
    assert final["lifecycle"] == "Succeeded"
    step = final["steps"][0]
    assert step["step_id"] == 1 and step["step_name"] == "step1" and len(step["targets"]) == 3

    shown = cli.json("get", execution_id)
    assert shown["lifecycle"] == "Succeeded" and len(shown["steps"][0]["targets"]) == 3
    failed_only = cli.json("get", execution_id, "--lifecycle", "Failed")
    assert all(not step["targets"] for step in failed_only["steps"])
    table = cli.ok("get", execution_id)
    for database in ("db1", "db2", "db3"):
        assert f"server1/{database}" in table.out
    assert "job execution Succeeded: 1 step(s), 3 target execution(s)" in table.out

    outputs = cli.json("receive", execution_id)
    assert len(outputs) == 3
    assert {tuple(o["result"]["rows"][0]) for o in outputs} == {
        ("db1", 42), ("db2", 42), ("db3", 42),
    }  # fmt: skip
    assert {"target", "messages", "messages_dropped", "result", "attempts"} <= set(outputs[0])
    assert {"result_sets", "affected_rows", "message_details", "error"} <= set(outputs[0])
    # receive handed the output out; --keep reads it again without marking it.
    assert cli.json("receive", execution_id) == []
    kept = cli.ok("receive", execution_id, "--keep", "--format", "json").json
    assert [o["result"] for o in kept] == [o["result"] for o in outputs]

    csv_text = cli.ok("receive", execution_id, "--keep", "--format", "csv").out
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == [
        "job_execution_id", "step_id", "step_name", "target_engine", "target_server_name",
        "target_database_name", "lifecycle", "database_name", "answer",
    ]  # fmt: skip
    assert sorted((r[5], r[7], r[8]) for r in rows[1:]) == [
        ("db1", "db1", "42"), ("db2", "db2", "42"), ("db3", "db3", "42"),
    ]  # fmt: skip
    table = cli.ok("receive", execution_id, "--step-id", "1", "--keep")
    assert "answer" in table.out and "42" in table.out


def test_executions_filters_and_paging(cli: Cli, job: str) -> None:
    first = cli.json("start", job, "--wait")["job_execution_id"]
    second = cli.json("start", job, "--wait")["job_execution_id"]
    page = cli.json("executions", "--job-name", job)
    assert [e["job_execution_id"] for e in page["items"]] == [second, first]
    assert page["continuation"] is None
    one = cli.json("executions", "--job-name", job, "--top", "1")
    assert [e["job_execution_id"] for e in one["items"]] == [second]
    assert one["continuation"]
    rest = cli.json(
        "executions", "--job-name", job, "--top", "1", "--continuation", one["continuation"]
    )
    assert [e["job_execution_id"] for e in rest["items"]] == [first]
    assert cli.json("executions", "--job-name", job, "--active")["items"] == []
    assert len(cli.json("executions", "--job-name", job, "--finished")["items"]) == 2
    assert len(cli.json("executions", "--job-name", job, "--lifecycle", "Succeeded")["items"]) == 2
    listing = cli.ok("get", "--job-name", job)
    assert first in listing.out and second in listing.out
    table = cli.ok("executions", "--job-name", job, "--top", "1")
    assert "more: --continuation" in table.out
    bad = cli("executions", "--create-time-min", "yesterday")
    assert bad.code == 2 and "create_time_min" in bad.error_line


def test_a_failed_job_exits_1_and_shows_the_driver_error(
    cli: Cli, unique: str, sqlite_server: Path
) -> None:
    name = f"fail_{unique}"
    make_job(cli, name, sqlite_server, "SELECT * FROM no_such_table", "--retry-attempts", "0")
    run = cli("start", name, "--wait", "--json")
    assert run.code == 1
    final = run.json
    assert final["lifecycle"] == "Failed"
    assert all(t["lifecycle"] == "Failed" for t in final["steps"][0]["targets"])
    execution_id = final["job_execution_id"]
    assert cli("get", execution_id).code == 1
    table = cli("start", name, "--wait")
    assert table.code == 1 and "job execution Failed" in table.out
    received = cli.ok("receive", execution_id)
    assert "no such table" in received.out


def test_stop_cancels_a_target_waiting_for_retry(
    cli: Cli, unique: str, sqlite_server: Path
) -> None:
    name = f"retry_{unique}"
    make_job(
        cli,
        name,
        sqlite_server,
        # integer overflow: an error of no known class, retried (a missing table is not)
        "SELECT abs(-9223372036854775808)",
        "--retry-attempts",
        "5",
        "--initial-retry-interval-seconds",
        "300",
        "--maximum-retry-interval-seconds",
        "300",
    )
    execution_id = cli.json("start", name)["job_execution_id"]

    wait_until(lambda: all_waiting_for_retry(cli, execution_id), 60, 0.2, "WaitingForRetry")
    still = cli("remove", execution_id)
    assert still.code == 2 and "still active" in still.error_line
    stopped = cli.json("stop", execution_id)
    assert stopped["job_execution_id"] == execution_id
    assert stopped["cancel_requested"] is True
    run = cli("wait", execution_id, "--json")
    assert run.code == 1
    assert run.json["lifecycle"] == "Canceled"
    assert {t["lifecycle"] for t in run.json["steps"][0]["targets"]} == {"Canceled"}


def test_remove_purges_a_finished_execution(
    cli: Cli, job: str, unique: str, sqlite_server: Path
) -> None:
    execution_id = cli.json("start", job, "--wait")["job_execution_id"]
    assert cli.json("remove", execution_id) == {"job_execution_id": execution_id, "removed": True}
    gone = cli("get", execution_id)
    assert gone.code == 2 and execution_id in gone.error_line
    assert cli.json("executions", "--job-name", job)["items"] == []

    name = f"slow_{unique}"
    make_job(
        cli,
        name,
        sqlite_server,
        # integer overflow: an error of no known class, retried (a missing table is not)
        "SELECT abs(-9223372036854775808)",
        "--retry-attempts",
        "5",
        "--initial-retry-interval-seconds",
        "300",
        "--maximum-retry-interval-seconds",
        "300",
    )
    active = cli.json("start", name)["job_execution_id"]
    wait_until(lambda: all_waiting_for_retry(cli, active), 60, 0.2, "WaitingForRetry")
    assert cli.json("remove", active, "--force")["removed"] is True
    assert cli("get", active).code == 2
