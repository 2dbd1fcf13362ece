"""The monitoring API over HTTP: the 202 start payload, listing executions (filters, pages),
one execution and its targets filtered by lifecycle, and purging one execution."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import quote, urlsplit

from tests.jobs.conftest import PG_CREDENTIAL
from tests.jobs.fleet import PostgresFleet, sqlite_folder_member, step, unique
from tests.jobs.host import JobsHost, poll


def _sqlite_job(host: JobsHost, tmp_path: Path) -> str:
    """A job on good1.db, good2.db (with table ``marker``) and bad.db (without): each execution
    ends Failed with two targets Succeeded and one Failed."""
    folder = tmp_path / "fleet"
    folder.mkdir()
    for name in ("good1", "good2", "bad"):
        with closing(sqlite3.connect(folder / f"{name}.db")) as connection:
            if name != "bad":
                connection.execute("CREATE TABLE marker (id int)")
    group = unique("monitored")
    host.ok("PUT", f"/api/target-groups/{group}", {"members": [sqlite_folder_member(folder)]})
    job = unique("monitored")
    host.put_job(job, [step("probe", "SELECT count(*) AS n FROM marker", group)])
    return job


def test_start_answers_the_durable_check_status_payload(
    jobs_host: JobsHost, tmp_path: Path
) -> None:
    job = _sqlite_job(jobs_host, tmp_path)
    reply = jobs_host.call("POST", f"/api/jobs/{job}/start")
    assert reply.status == 202
    body = reply.body
    execution_id = body["job_execution_id"]
    assert body["id"] == execution_id
    assert body["job_name"] == job and body["job_version"] == 1
    for key in (
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
    ):
        assert execution_id in body[key], (key, body[key])
    assert body["executionUri"].endswith(f"/api/executions/{execution_id}")
    # As on Azure, the status URLs carry the system key: a function key holder can follow them.
    assert f"code={jobs_host.keys.system_key}" in body["statusQueryGetUri"]
    status_path = urlsplit(body["statusQueryGetUri"])
    path = f"{status_path.path}?{status_path.query}"

    def completed() -> dict | None:
        status = jobs_host.call("GET", path).body
        return status if status["runtimeStatus"] == "Completed" else None

    status = poll(completed, 30, "the orchestration to complete")
    assert status["output"]["lifecycle"] == "Failed"
    assert status["customStatus"] == {"lifecycle": "Failed"}


def test_list_filter_page_and_purge_executions(jobs_host: JobsHost, tmp_path: Path) -> None:
    job = _sqlite_job(jobs_host, tmp_path)
    ids = [jobs_host.run_job(job)["job_execution_id"] for _ in range(3)]

    first = jobs_host.ok("GET", f"/api/executions?job_name={job}&top=2")
    assert [e["job_execution_id"] for e in first["items"]] == ids[::-1][:2]  # newest first
    assert first["continuation"]
    rest = jobs_host.ok(
        "GET", f"/api/executions?job_name={job}&top=2&continuation={quote(first['continuation'])}"
    )
    assert [e["job_execution_id"] for e in rest["items"]] == ids[:1]
    assert rest["continuation"] is None
    assert jobs_host.ok("GET", f"/api/executions?job_name={job}&active=true")["items"] == []
    assert len(jobs_host.ok("GET", f"/api/executions?job_name={job}&active=false")["items"]) == 3
    failed = jobs_host.ok("GET", f"/api/executions?job_name={job}&lifecycle=Failed")["items"]
    assert len(failed) == 3
    since = quote(first["items"][1]["create_time"])
    recent = jobs_host.ok("GET", f"/api/executions?job_name={job}&create_time_min={since}")
    assert [e["job_execution_id"] for e in recent["items"]] == ids[::-1][:2]
    bad = jobs_host.call("GET", "/api/executions?lifecycle=Sleeping")
    assert bad.status == 400 and "lifecycle" in bad.raw.decode()

    execution = jobs_host.execution(ids[0], lifecycle="Failed")
    ((target,),) = [s["targets"] for s in execution["steps"]]
    assert target["target_database_name"] == "bad"
    assert "no such table" in target["last_message"]
    succeeded = jobs_host.ok("GET", f"/api/executions/{ids[0]}/targets?lifecycle=Succeeded")
    assert sorted(t["target_database_name"] for t in succeeded["items"]) == ["good1", "good2"]

    assert jobs_host.instances(ids[0])
    assert jobs_host.call("DELETE", f"/api/executions/{ids[0]}").status == 204
    assert jobs_host.call("GET", f"/api/executions/{ids[0]}").status == 404
    assert jobs_host.instances(ids[0]) == []
    remaining = jobs_host.ok("GET", f"/api/executions?job_name={job}")["items"]
    assert [e["job_execution_id"] for e in remaining] == ids[:0:-1]


def test_active_execution_is_not_purged(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("purge_active")
    marker = unique("purge_active")
    group = unique("group")
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": [pg.database_member(database)]})
    job = unique("purge_active")
    command = f"SELECT pg_sleep(30) /* {marker} */"
    jobs_host.put_job(job, [step("sleep", command, group, credential_name=PG_CREDENTIAL)])
    execution_id = jobs_host.start_job(job)
    poll(lambda: pg.running(marker), 20, "the script on the server")
    reply = jobs_host.call("DELETE", f"/api/executions/{execution_id}")
    assert reply.status == 409
    assert f"/api/executions/{execution_id}/cancel" in reply.raw.decode()
    jobs_host.ok("POST", f"/api/executions/{execution_id}/cancel")
    assert jobs_host.wait_finished(execution_id, timeout=15)["lifecycle"] == "Canceled"
    assert jobs_host.call("DELETE", f"/api/executions/{execution_id}").status == 204
