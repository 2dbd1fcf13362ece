"""Watching executions over the API: versions and long-polls, per-step progress, lifecycle
codes, timelines with retries, a target's attempts and the SQL it ran, counts, job summaries,
and reruns of the failed targets, on a real host with SQLite targets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlfleet.cli.demo import make_sqlite_server
from tests.jobs.fleet import sqlite_folder_member, unique
from tests.jobs.host import JobsHost

# Fails on db2 only; the rest return a row.
FAIL_ON_DB2 = (
    "SELECT '$(target_database_name)' AS db; "
    "SELECT CASE WHEN '$(target_database_name)' = 'db2' THEN abs(-9223372036854775808) END;"
)


@pytest.fixture
def fleet(jobs_host: JobsHost, tmp_path: Path) -> dict[str, Any]:
    """Three SQLite databases in a group, and a job that fails on db2 after one retry."""
    return make_fleet(jobs_host, tmp_path)


def make_fleet(jobs_host: JobsHost, tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "server"
    make_sqlite_server(folder)
    group, job = unique("group"), unique("job")
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": [sqlite_folder_member(folder)]})
    jobs_host.put_job(
        job,
        [
            {
                "step_name": "check",
                "target_group_name": group,
                "command": FAIL_ON_DB2,
                "retry_attempts": 1,
                "initial_retry_interval_seconds": 2,
            }
        ],
    )
    return {"group": group, "job": job, "folder": folder}


def test_a_long_poll_answers_when_the_execution_changes_and_not_before(
    jobs_host: JobsHost, fleet: dict[str, Any]
) -> None:
    execution_id = jobs_host.start_job(fleet["job"])
    seen = [jobs_host.execution(execution_id, targets="false")]
    assert seen[0]["version"]
    while seen[-1]["is_active"]:
        started = time.monotonic()
        answer = jobs_host.execution(
            execution_id, targets="false", since=seen[-1]["version"], wait=30
        )
        assert time.monotonic() - started < 25, "a change must end the wait early"
        assert answer["version"] != seen[-1]["version"], "it answers only with a change"
        seen.append(answer)
    final = seen[-1]
    assert final["lifecycle"] == "Failed"
    # The retry was seen live: some answer had db2 waiting for its next attempt.
    assert any(
        (step.get("progress") or {}).get("counts", {}).get("WaitingForRetry")
        for answer in seen
        for step in answer["steps"]
    )
    progress = final["steps"][0]["progress"]
    assert progress["counts"] == {"Failed": 1, "Succeeded": 2}
    assert progress["targets"] == 3 and progress["attempts"] == 4
    assert "targets" not in final["steps"][0] or final["steps"][0]["targets"] == []
    # Nothing changes any more: the wait runs to its end and answers the same version.
    started = time.monotonic()
    same = jobs_host.execution(execution_id, targets="false", since=final["version"], wait=2)
    assert time.monotonic() - started >= 1.9
    assert same["version"] == final["version"]
    with_targets = jobs_host.execution(execution_id)
    assert with_targets["version"] == final["version"]
    assert len(with_targets["steps"][0]["targets"]) == 3


@pytest.fixture(scope="module")
def started_execution(
    jobs_host: JobsHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One execution of the module's kind of job, for requests that only need one to name:
    started once (its retry takes seconds), waited for after the last of them."""
    folder = tmp_path_factory.mktemp("watching")
    job = make_fleet(jobs_host, folder)["job"]
    execution_id = jobs_host.start_job(job)
    yield execution_id
    jobs_host.wait_finished(execution_id)


@pytest.mark.parametrize(
    ("query", "field"),
    [("wait=61&since=abc", "wait"), ("wait=-1", "wait"), ("since=no%20such!", "since")],
)
def test_bad_long_poll_parameters_name_the_field(
    jobs_host: JobsHost, started_execution: str, query: str, field: str
) -> None:
    for path in (f"/api/executions/{started_execution}?{query}", f"/api/executions?{query}"):
        reply = jobs_host.call("GET", path)
        assert reply.status == 400, reply.body
        assert reply.body["field"] == field


def test_the_list_long_poll_answers_when_an_execution_starts(
    jobs_host: JobsHost, fleet: dict[str, Any]
) -> None:
    job = fleet["job"]
    before = jobs_host.ok("GET", f"/api/executions?job_name={job}&counts=true")
    assert before["items"] == [] and before["counts"] == {}
    execution_id = jobs_host.start_job(job)
    after = jobs_host.ok(
        "GET", f"/api/executions?job_name={job}&counts=true&since={before['version']}&wait=30"
    )
    assert [item["job_execution_id"] for item in after["items"]] == [execution_id]
    assert sum(after["counts"].values()) == 1
    jobs_host.wait_finished(execution_id)
    ended = jobs_host.ok("GET", f"/api/executions?job_name={job}&counts=true")
    assert ended["counts"] == {"Failed": 1}


def test_lifecycle_codes_timeline_attempts_and_script(
    jobs_host: JobsHost, fleet: dict[str, Any]
) -> None:
    execution = jobs_host.run_job(fleet["job"])
    execution_id = execution["job_execution_id"]
    ordinal = next(
        t["target_ordinal"]
        for t in execution["steps"][0]["targets"]
        if t["target_database_name"] == "db2"
    )
    codes = jobs_host.ok("GET", f"/api/executions/{execution_id}/steps/1/lifecycles")
    legend = codes["legend"]
    assert codes["total"] == 3 and codes["start"] == 0
    assert [legend[int(c)] for c in codes["codes"]] == [
        "Failed" if i == ordinal else "Succeeded" for i in range(3)
    ]
    page = jobs_host.ok("GET", f"/api/executions/{execution_id}/steps/1/lifecycles?start=1&count=1")
    assert page["codes"] == codes["codes"][1] and page["total"] == 3

    timeline = jobs_host.ok("GET", f"/api/executions/{execution_id}/steps/1/timeline")
    failed = timeline["targets"][ordinal]
    assert failed["attempts"] == 2 and len(failed["earlier"]) == 1
    first = failed["earlier"][0]
    # The retry waited its interval (2 s) between the two attempts.
    assert failed["attempt_start"] - first["end"] >= 1500
    assert failed["end"] >= failed["attempt_start"] >= first["end"] >= (first["start"] or 0)

    output = jobs_host.ok("GET", f"/api/executions/{execution_id}/steps/1/targets/{ordinal}/output")
    attempts = output["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert attempts[0]["lifecycle"] == "WaitingForRetry" and "overflow" in attempts[0]["message"]
    assert attempts[1]["lifecycle"] == "Failed" and attempts[1]["end_time"]

    script = jobs_host.ok("GET", f"/api/executions/{execution_id}/steps/1/targets/{ordinal}/script")
    assert script["command"] == FAIL_ON_DB2
    assert "'db2' AS db" in script["script"] and "$(" not in script["script"]
    assert script["variables"]["target_database_name"] == "db2"
    assert script["parameters"] == {}

    for path, field in [
        (f"/api/executions/{execution_id}/steps/1/lifecycles?count=100001", "count"),
        (f"/api/executions/{execution_id}/steps/1/timeline?count=0", "count"),
        (f"/api/executions/{execution_id}/steps/x/timeline", "step_id"),
        (f"/api/executions/{execution_id}/steps/1/targets/x/script", "ordinal"),
    ]:
        reply = jobs_host.call("GET", path)
        assert reply.status == 400 and reply.body["field"] == field, (path, reply.body)
    assert jobs_host.call("GET", f"/api/executions/{execution_id}/steps/9/lifecycles").status == 404


def test_rerun_runs_only_the_failed_targets_and_links_both_ways(
    jobs_host: JobsHost, fleet: dict[str, Any]
) -> None:
    original = jobs_host.run_job(fleet["job"])
    original_id = original["job_execution_id"]
    reply = jobs_host.call("POST", f"/api/executions/{original_id}/rerun")
    assert reply.status == 202, reply.body
    assert reply.body["rerun_of"] == original_id
    assert reply.body["lifecycles"] == ["Failed", "TimedOut"]
    assert reply.body["statusQueryGetUri"]
    rerun = jobs_host.wait_finished(reply.body["job_execution_id"])
    assert rerun["rerun_of_job_execution_id"] == original_id
    assert rerun["job_version"] == original["job_version"]
    assert [t["target_database_name"] for t in rerun["steps"][0]["targets"]] == ["db2"]
    assert rerun["lifecycle"] == "Failed"
    assert jobs_host.execution(original_id, targets="false")["reruns"] == [
        rerun["job_execution_id"]
    ]

    # The not-succeeded lifecycles of a rerun that failed everywhere: db2 again, only.
    again = jobs_host.call(
        "POST",
        f"/api/executions/{rerun['job_execution_id']}/rerun",
        {"lifecycles": ["Failed", "TimedOut", "Canceled", "Skipped"]},
    )
    assert again.status == 202
    second = jobs_host.wait_finished(again.body["job_execution_id"])
    assert [t["target_database_name"] for t in second["steps"][0]["targets"]] == ["db2"]

    # Succeeded targets only: db1 and db3.
    ok = jobs_host.call(
        "POST", f"/api/executions/{original_id}/rerun", {"lifecycles": ["Succeeded"]}
    )
    assert ok.status == 202
    third = jobs_host.wait_finished(ok.body["job_execution_id"])
    assert sorted(t["target_database_name"] for t in third["steps"][0]["targets"]) == [
        "db1",
        "db3",
    ]
    assert third["lifecycle"] == "Succeeded"


def test_rerun_refusals_name_the_field(jobs_host: JobsHost, fleet: dict[str, Any]) -> None:
    execution_id = jobs_host.start_job(fleet["job"])
    active = jobs_host.call("POST", f"/api/executions/{execution_id}/rerun")
    assert active.status == 409 and active.body["field"] == "id", active.body
    assert "still active" in active.body["message"]
    jobs_host.wait_finished(execution_id)
    none = jobs_host.call(
        "POST", f"/api/executions/{execution_id}/rerun", {"lifecycles": ["Canceled"]}
    )
    assert none.status == 409 and none.body["field"] == "lifecycles"
    assert "nothing to rerun" in none.body["message"]
    bad = jobs_host.call(
        "POST", f"/api/executions/{execution_id}/rerun", {"lifecycles": ["InProgress"]}
    )
    assert bad.status == 422 and bad.body["field"] == "lifecycles"
    unknown = jobs_host.call("POST", f"/api/executions/{execution_id}/rerun", {"lifecycle": []})
    assert unknown.status == 422 and unknown.body["field"] == "lifecycle"
    missing = jobs_host.call("POST", "/api/executions/00000000-0000-0000-0000-000000000000/rerun")
    assert missing.status == 404 and missing.body["field"] == "id"


def test_job_summaries_say_the_last_outcome_and_the_next_run(
    jobs_host: JobsHost, fleet: dict[str, Any]
) -> None:
    execution = jobs_host.run_job(fleet["job"])
    scheduled = unique("scheduled")
    jobs_host.put_job(
        scheduled,
        [{"target_group_name": fleet["group"], "command": "SELECT 1"}],
        enabled=True,
        schedule={
            "interval_type": "Days",
            "interval_count": 1,
            "start_time": "2090-01-01T06:00:00Z",
        },
    )
    summaries = {s["name"]: s for s in jobs_host.ok("GET", "/api/job-summaries")["value"]}
    mine = summaries[fleet["job"]]
    assert mine["last_execution"]["job_execution_id"] == execution["job_execution_id"]
    assert mine["last_execution"]["lifecycle"] == "Failed"
    assert mine["next_run_time"] is None and mine["active_executions"] == 0
    assert summaries[scheduled]["next_run_time"] == "2090-01-01T06:00:00Z"
    assert summaries[scheduled]["last_execution"] is None
    jobs_host.ok("DELETE", f"/api/jobs/{scheduled}")


def test_a_long_poll_until_ended_answers_once_at_the_end(
    jobs_host: JobsHost, fleet: dict[str, Any]
) -> None:
    """The execution changes many times (three targets, a retry after 2 s); the wait answers
    once, when it has ended."""
    execution_id = jobs_host.start_job(fleet["job"])
    answer = jobs_host.execution(execution_id, targets="false", until="ended", wait=50)
    assert answer["is_active"] is False and answer["lifecycle"] == "Failed", answer
    assert answer["version"], "the answer is the execution's summary, with its version"
    reply = jobs_host.call("GET", f"/api/executions/{execution_id}?until=soon&wait=1")
    assert reply.status == 400 and reply.body["field"] == "until", reply.body
