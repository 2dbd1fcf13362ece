"""Issue 16 through the CLI and a live host: parameters on ``start`` (``--parameter``,
``--parameters-file``) and ``jobs create --declare``; ad hoc runs (``sqlfleet run``) with the
features of an execution; the next run time in ``jobs show`` and ``jobs list``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlfleet.cli.client import ApiClient, ApiError
from tests.cli.conftest import Cli
from tests.support.servers import wait_until

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def test_start_takes_parameters_from_options_and_a_file(
    cli: Cli, unique: str, sqlite_server: Path, tmp_path: Path
) -> None:
    group, job = f"g_{unique}", f"job_{unique}"
    cli.ok("target-groups", "create", group)
    cli.ok("members", "add", group, "--target-type", "database", "--engine", "sqlite",
           "--server-name", str(sqlite_server), "--database-name", "db1")  # fmt: skip
    created = cli.json("jobs", "create", job, "--declare", "who", "--declare", "n:int=1",
                       "--declare", "pin:string:secret")  # fmt: skip
    assert [p["name"] for p in created["parameters"]] == ["who", "n", "pin"]
    assert created["parameters"][2]["secret"] is True
    command = "SELECT $(who) AS who, $(n) * 2 AS twice, length($(pin)) AS pin_length"
    cli.ok("steps", "create", job, "--target-group", group, "--command", command)
    shown = cli.ok("jobs", "show", job).out
    assert "who:string" in shown and "pin:string secret" in shown

    values = tmp_path / "values.json"
    values.write_text(json.dumps({"who": "from the file", "n": 20, "pin": "1234"}))
    final = cli.json("start", job, "--parameters-file", str(values), "--parameter", "n=21",
                     "--wait")  # fmt: skip
    assert final["lifecycle"] == "Succeeded"
    assert final["parameters"] == {"who": "from the file", "n": "21", "pin": "***"}
    rows = cli.json("receive", final["job_execution_id"])[0]["result"]["rows"]
    assert rows == [["from the file", 42, 4]]
    shown = cli.ok("get", final["job_execution_id"]).out
    assert "n=21" in shown and "pin=***" in shown and "1234" not in shown

    bad = cli("start", job, "--parameter", "n=twenty", "--parameter", "who=x", "--parameter",
              "pin=1")  # fmt: skip
    assert bad.code == 2 and "parameters.n" in bad.error_line and "int" in bad.error_line
    missing = cli("start", job)
    assert missing.code == 2 and "parameters.who" in missing.error_line


@pytest.fixture
def api(cli: Cli) -> Iterator[ApiClient]:
    client = ApiClient(cli.url, cli.key)
    yield client
    client.close()


def test_an_ad_hoc_run_on_databases_by_address(
    cli: Cli, api: ApiClient, unique: str, sqlite_server: Path
) -> None:
    name = f"adhoc_{unique}"
    final = cli.json(
        "run", "--database", f"sqlite://{sqlite_server}/db1.db",
        "--database", f"sqlite://{sqlite_server}/db2.db",
        "--command", "SELECT $(target_database_name_literal) AS db, $(n) + 1 AS n, "
        "length($(token)) AS token_length",
        "--parameter", "n:int=41", "--parameter", "token=abcd", "--secret-parameter", "token",
        "--name", name, "--max-parallelism", "1", "--wait",
    )  # fmt: skip
    assert final["lifecycle"] == "Succeeded" and final["job_name"] == name
    assert final["parameters"] == {"n": "41", "token": "***"}
    output = cli.json("receive", final["job_execution_id"])
    assert sorted(item["result"]["rows"][0][0] for item in output) == ["db1", "db2"]
    assert {tuple(item["result"]["rows"][0][1:]) for item in output} == {(42, 4)}
    # Listed among executions under its name; no job or group left to maintain.
    listed = cli.json("executions", "--job-name", name)["items"]
    assert [e["job_execution_id"] for e in listed] == [final["job_execution_id"]]
    assert name not in {job["name"] for job in cli.json("jobs", "list")}
    assert not any(g["name"].startswith("~run-") for g in cli.json("target-groups", "list"))
    # A second run under the same name is a new execution of it.
    again = cli.ok("run", "--database", f"sqlite://{sqlite_server}/db3.db", "--command",
                   "SELECT 3", "--name", name, "--quiet").out.strip()  # fmt: skip
    assert cli.json("wait", again)["lifecycle"] == "Succeeded"
    assert len(cli.json("executions", "--job-name", name)["items"]) == 2
    # Removing both removes the hidden job too: the name is free for a job.
    cli.ok("remove", final["job_execution_id"])
    cli.ok("remove", again)
    assert cli.json("executions", "--job-name", name)["items"] == []
    with pytest.raises(ApiError) as gone:
        api.get(f"/api/jobs/{name}")
    assert gone.value.status == 404
    cli.ok("jobs", "create", name)
    taken = cli("run", "--database", f"sqlite://{sqlite_server}/db1.db", "--command", "SELECT 1",
                "--name", name)  # fmt: skip
    assert taken.code == 2 and "give the run another --name" in taken.error_line


def test_a_run_retries_times_out_and_stops_like_any_execution(
    cli: Cli, unique: str, sqlite_server: Path
) -> None:
    group = f"g_{unique}"
    cli.ok("target-groups", "create", group)
    cli.ok("members", "add", group, "--target-type", "database", "--engine", "sqlite",
           "--server-name", str(sqlite_server), "--database-name", "db1")  # fmt: skip
    failed = _ended_badly(cli, "run", "--target-group", group, "--command",
                          "SELECT abs(-9223372036854775808)", "--retry-attempts", "1",
                          "--wait")  # fmt: skip
    assert failed["lifecycle"] == "Failed"  # an error of no known class: retried
    (target,) = failed["steps"][0]["targets"]
    assert target["current_attempts"] == 2 and "overflow" in target["last_message"]
    assert cli("run", "--target-group", group, "--command", "SELECT 1").code == 0

    timed_out = _ended_badly(cli, "run", "--target-group", group, "--command", ENDLESS,
                             "--step-timeout-seconds", "1", "--wait")  # fmt: skip
    assert timed_out["lifecycle"] == "TimedOut"

    running = cli.ok("run", "--target-group", group, "--command", ENDLESS, "--quiet").out.strip()
    # Its targets run: the execution waits for them (Elastic Jobs' lifecycle).
    wait_until(lambda: _state(cli, running) == "WaitingForChildJobExecutions", timeout=30)
    cli.ok("stop", running)
    wait_until(lambda: _state(cli, running) == "Canceled", timeout=30)


def test_run_refuses_what_cannot_run(
    cli: Cli, api: ApiClient, unique: str, sqlite_server: Path
) -> None:
    for body, field in (
        ({"command": "SELECT 1"}, "target_group_name"),
        ({"command": "SELECT 1", "target_group_name": f"nope_{unique}"}, "target_group_name"),
        ({"command": "SELECT 1", "target_group_name": "g", "parameters": {"job_id": 1}},
         "parameters"),
        ({"command": "SELECT 1", "credential_name": f"nope_{unique}", "members": [
            {"target_type": "database", "engine": "sqlite", "server_name": str(sqlite_server),
             "database_name": "db1"}]}, "credential_name"),
    ):  # fmt: skip
        with pytest.raises(ApiError) as error:
            api.post("/api/runs", body)
        assert error.value.status == 422 and error.value.field == field, error.value.message
    # The refused run with members left no hidden group behind.
    assert not any(g["name"].startswith("~run-") for g in cli.json("target-groups", "list"))
    bad_url = cli("run", "--database", "oracle://x/y", "--command", "SELECT 1")
    assert bad_url.code == 2 and "ENGINE://" in bad_url.error_line


def test_jobs_show_and_list_the_next_run_time(cli: Cli, unique: str) -> None:
    job = f"sched_{unique}"
    cli.ok("jobs", "create", job, "--schedule-interval-type", "Days",
           "--schedule-start-time", "2090-03-01T09:00:00", "--schedule-time-zone",
           "Europe/Paris", "--enabled")  # fmt: skip
    document = cli.json("jobs", "show", job)
    assert document["next_run_time"] == "2090-03-01T08:00:00Z"  # 09:00 CET
    assert "2090-03-01" in cli.ok("jobs", "show", job).out
    listed = {j["name"]: j for j in cli.json("jobs", "list")}
    assert listed[job]["next_run_time"] == "2090-03-01T08:00:00Z"
    assert "2090-03-01" in cli.ok("jobs", "list").out
    cron = cli.json("jobs", "update", job, "--schedule-cron", "30 6 * * 1")
    assert cron["schedule"]["cron"] == "30 6 * * 1"
    assert cron["schedule"]["interval_type"] == "once"
    # Mondays 06:30 Paris time, from 2090-03-01 (a Wednesday): 2090-03-06 05:30Z.
    assert cron["next_run_time"] == "2090-03-06T05:30:00Z"
    assert dt.datetime.fromisoformat(cron["next_run_time"]).weekday() == 0
    cli.ok("jobs", "update", job, "--no-enabled")
    assert cli.json("jobs", "show", job)["next_run_time"] is None


def _ended_badly(cli: Cli, *args: str) -> dict[str, Any]:
    """The execution ``sqlfleet ARGS --json`` waited for, which must exit 1 (ended badly)."""
    run = cli(*args, "--json")
    assert run.code == 1, run.err
    document: dict[str, Any] = run.json
    return document


def _state(cli: Cli, execution_id: str) -> str:
    lifecycle: str = cli("get", execution_id, "--json").json["lifecycle"]
    return lifecycle


def test_a_schedule_starting_now_runs_now(cli: Cli, unique: str, sqlite_server: Path) -> None:
    group, job = f"g_{unique}", f"now_{unique}"
    cli.ok("target-groups", "create", group)
    cli.ok("members", "add", group, "--target-type", "database", "--engine", "sqlite",
           "--server-name", str(sqlite_server), "--database-name", "db1")  # fmt: skip
    cli.ok("jobs", "create", job)
    cli.ok("steps", "create", job, "--target-group", group, "--command", "SELECT 1")
    updated = cli.json("jobs", "update", job, "--schedule-interval-type", "Hours",
                       "--schedule-start-time", "now", "--enabled")  # fmt: skip
    start = dt.datetime.fromisoformat(updated["schedule"]["start_time"])
    # The first run is now, not an hour later; the next one an hour after the start.
    assert dt.datetime.fromisoformat(updated["next_run_time"]) == start + dt.timedelta(hours=1)
    wait_until(lambda: cli.json("executions", "--job-name", job)["items"], timeout=30)
    cli.ok("jobs", "update", job, "--no-enabled")
