"""PowerShell's job verbs, faithfully (issue 16 §4): ``receive`` hands output out once
(``--keep`` and GET /output leave it), partial output of a running execution comes back as its
targets end, ``get``/``executions`` show has_more_data, Command and Location; ``wait`` takes
several ids, ``--any``, a total ``--timeout`` (exit 3) and waits out a host restart."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.jobs.conftest import PG_CREDENTIAL
from tests.jobs.fleet import PostgresFleet, sqlite_folder_member, step, unique
from tests.jobs.host import ROOT, JobsHost, poll


def _sqlite_job(host: JobsHost, folder: Path, command: str, databases: int = 3) -> str:
    folder.mkdir(exist_ok=True)
    for index in range(databases):
        sqlite3.connect(folder / f"db{index}.db").close()
    group, job = unique("group"), unique("verbs")
    host.ok("PUT", f"/api/target-groups/{group}", {"members": [sqlite_folder_member(folder)]})
    host.put_job(job, [step("first", command, group)])
    return job


def _json(run: subprocess.CompletedProcess[str]) -> Any:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_receive_hands_output_out_once_and_get_shows_the_summary(
    jobs_host: JobsHost, tmp_path: Path
) -> None:
    folder = tmp_path / "fleet"
    job = _sqlite_job(jobs_host, folder, "-- count them\nSELECT 42 AS answer")
    execution_id = jobs_host.run_job(job)["job_execution_id"]
    shown = _json(jobs_host.cli("get", execution_id, "--json"))
    assert shown["has_more_data"] is True
    assert shown["command"] == ["-- count them"]
    assert shown["location"] == [str(folder)]
    two = _json(jobs_host.cli("get", execution_id, "--count", "2", "--json"))
    assert sum(len(s["targets"]) for s in two["steps"]) == 2  # Get-Job's -Newest, per target
    assert len(_json(jobs_host.cli("executions", "--count", "1", "--json"))["items"]) == 1
    _sqlite_job(jobs_host, tmp_path / "another", "SELECT 1", databases=1)
    for listing in (("jobs", "list"), ("target-groups", "list")):
        assert len(_json(jobs_host.cli(*listing, "--json"))) >= 2
        assert len(_json(jobs_host.cli(*listing, "--count", "1", "--json"))) == 1, listing
    listed = jobs_host.cli("executions", "--job-name", job)
    assert "has_more_data" in listed.stdout and "-- count them" in listed.stdout

    # GET /output (Receive-Job -Keep) never marks anything.
    kept = jobs_host.ok("GET", f"/api/executions/{execution_id}/output")["items"]
    assert len(kept) == 3
    assert len(_json(jobs_host.cli("receive", execution_id, "--keep", "--json"))) == 3
    refused = jobs_host.call("GET", f"/api/executions/{execution_id}/output?keep=false")
    assert refused.status == 400 and "POST /api/executions/{id}/receive" in str(refused.body)
    first = _json(jobs_host.cli("receive", execution_id, "--top", "2", "--json"))
    assert [item["result"]["rows"] for item in first] == [[[42]], [[42]]]
    rest = _json(jobs_host.cli("receive", execution_id, "--json"))
    assert len(rest) == 1 and rest[0]["target"]["target_database_name"] == "db2"
    assert rest[0]["target"]["received_time"] is not None
    assert _json(jobs_host.cli("receive", execution_id, "--json")) == []
    assert _json(jobs_host.cli("get", execution_id, "--json"))["has_more_data"] is False
    again = jobs_host.ok("POST", f"/api/executions/{execution_id}/receive")
    assert again == {"items": [], "continuation": None, "has_more_data": False}
    assert len(_json(jobs_host.cli("receive", execution_id, "--keep", "--json"))) == 3


def test_partial_output_of_a_running_execution(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    fast, slow = pg_database("fast"), pg_database("slow")
    marker = unique("slow")
    group = unique("group")
    members = [pg.database_member(fast), pg.database_member(slow)]
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": members})
    command = (
        f"SELECT CASE WHEN current_database() = '{slow}' THEN pg_sleep(30) END /* {marker} */, "
        "current_database() AS db"
    )
    job = unique("partial")
    jobs_host.put_job(job, [step("mixed", command, group, credential_name=PG_CREDENTIAL)])
    execution_id = jobs_host.start_job(job)
    poll(lambda: pg.running(marker), 20, "the slow target's statement")
    poll(
        lambda: any(t["lifecycle"] == "Succeeded" for t in jobs_host.targets(execution_id)),
        20,
        "the fast target to end",
    )
    page = jobs_host.ok("POST", f"/api/executions/{execution_id}/receive")
    assert [item["result"]["rows"][0][1] for item in page["items"]] == [fast]
    assert page["has_more_data"] is True  # the slow target's output is still to come
    jobs_host.ok("POST", f"/api/executions/{execution_id}/cancel")
    jobs_host.wait_finished(execution_id, timeout=30)
    rest = jobs_host.ok("POST", f"/api/executions/{execution_id}/receive")
    assert [item["target"]["target_database_name"] for item in rest["items"]] == [slow]
    assert rest["has_more_data"] is False


def test_wait_for_several_any_and_a_total_timeout(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str], tmp_path: Path
) -> None:
    good = _sqlite_job(jobs_host, tmp_path / "good", "SELECT 1", databases=1)
    bad = _sqlite_job(jobs_host, tmp_path / "bad", "SELECT * FROM no_such_table", databases=1)
    other = _sqlite_job(jobs_host, tmp_path / "other", "SELECT 2", databases=1)
    one, two = jobs_host.start_job(good), jobs_host.start_job(other)
    both = jobs_host.cli("wait", one, two, "--json")
    assert both.returncode == 0, both.stderr
    assert [e["lifecycle"] for e in json.loads(both.stdout)] == ["Succeeded", "Succeeded"]
    failed = jobs_host.start_job(bad)
    assert jobs_host.cli("wait", one, failed).returncode == 1

    group = unique("group")
    member = pg.database_member(pg_database("sleepy"))
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": [member]})
    sleepy = unique("sleepy")
    jobs_host.put_job(
        sleepy, [step("sleep", "SELECT pg_sleep(30)", group, credential_name=PG_CREDENTIAL)]
    )
    running = jobs_host.start_job(sleepy)
    began = time.monotonic()
    first = jobs_host.cli("wait", running, one, "--any")
    assert first.returncode == 0, first.stderr
    assert one in first.stdout and running not in first.stdout
    began = time.monotonic()
    timed_out = jobs_host.cli("wait", running, "--timeout", "2")
    elapsed = time.monotonic() - began
    assert timed_out.returncode == 3, timed_out.stdout + timed_out.stderr
    assert "timed out after 2 s" in timed_out.stdout
    assert elapsed < 6, elapsed  # the whole wait, not one request's timeout
    jobs_host.ok("POST", f"/api/executions/{running}/cancel")
    assert jobs_host.cli("wait", running, "--timeout", "30").returncode == 1  # Canceled


def test_wait_waits_out_a_host_restart(jobs_host: JobsHost, tmp_path: Path) -> None:
    job = _sqlite_job(jobs_host, tmp_path / "restart", "SELECT 1", databases=1)
    execution_id = jobs_host.run_job(job)["job_execution_id"]
    jobs_host.stop()
    command = [
        sys.executable, "-c", "import sys; from sqlfleet.cli import main; sys.exit(main())",
        "--url", jobs_host.base, "--key", jobs_host.keys.function_key or "",
        "wait", execution_id, "--timeout", "90",
    ]  # fmt: skip
    waiting = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        jobs_host.launch()  # the host is down for as long as it takes to start again
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, out + err
    assert "Succeeded" in out
