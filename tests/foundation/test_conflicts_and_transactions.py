"""409 for conflicts, and transactions: a rejected or failing request leaves nothing written."""

from __future__ import annotations

from typing import Any

import pytest

import sqlfleet.store.jobs
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.store import SqlJobStore
from tests.foundation.fleet import DATABASE_MEMBER, seed, step


def test_credential_used_by_a_current_step_cannot_be_deleted(api: Any) -> None:
    seed(api)
    reply = api.delete("/api/credentials/pw")
    assert reply.status == 409 and reply.body["code"] == "InUse"
    assert "job 'j' step 1" in reply.body["message"]
    api.patch("/api/jobs/j/steps/1", {"credential_name": "kv"})
    # Only an older version (1) still names pw: that does not hold it.
    assert api.delete("/api/credentials/pw").status == 204
    assert api.get("/api/jobs/j/versions/1").body["steps"][0]["credential_name"] == "pw"


def test_credential_used_as_output_or_refresh_credential_cannot_be_deleted(api: Any) -> None:
    seed(api)
    api.patch(
        "/api/jobs/j/steps/1",
        {
            "output": {
                "server_name": "s",
                "database_name": "d",
                "table_name": "t",
                "credential_name": "mi",
            }
        },
    )
    assert api.delete("/api/credentials/mi").status == 409
    api.post(
        "/api/target-groups/g/members",
        {"target_type": "server", "server_name": "s", "refresh_credential_name": "kv"},
    )
    reply = api.delete("/api/credentials/kv")
    assert reply.status == 409 and "target group 'g' member" in reply.body["message"]


def test_target_group_used_by_a_current_step_cannot_be_deleted(api: Any) -> None:
    seed(api)
    reply = api.delete("/api/target-groups/g")
    assert reply.status == 409 and reply.body["code"] == "InUse"
    assert api.get("/api/target-groups/g").status == 200
    assert api.delete("/api/jobs/j/steps/1").status == 204
    assert api.delete("/api/target-groups/g").status == 204
    assert api.get("/api/target-groups/g").status == 404


def test_job_with_an_active_execution_needs_force(api: Any, store: SqlJobStore) -> None:
    seed(api)
    execution = store.create_job_execution("j")
    reply = api.delete("/api/jobs/j")
    assert reply.status == 409 and reply.body["code"] == "ActiveExecution"
    assert execution.job_execution_id in reply.body["message"]
    assert api.get("/api/jobs/j").status == 200
    assert api.delete("/api/jobs/j?force=true").status == 204
    assert api.get("/api/jobs/j").status == 404
    assert store.list_job_executions(job_name="j").items == []


def test_job_whose_executions_finished_deletes_without_force(api: Any, store: SqlJobStore) -> None:
    seed(api)
    execution = store.create_job_execution("j")
    store.end_job_execution(execution.job_execution_id, Lifecycle.CANCELED, "canceled")
    assert api.delete("/api/jobs/j").status == 204


def test_rejected_group_replacement_keeps_the_old_group(api: Any) -> None:
    seed(api)
    before = api.get("/api/target-groups/g").body
    bad = {
        "description": "half",
        "members": [
            {"target_type": "database", "server_name": "x", "database_name": "a"},
            {"target_type": "server", "server_name": "y", "refresh_credential_name": "missing"},
        ],
    }
    reply = api.put("/api/target-groups/g", bad)
    assert reply.status == 422 and reply.body["field"] == "members[1].refresh_credential_name"
    assert api.get("/api/target-groups/g").body == before
    assert api.put("/api/target-groups/h", bad).status == 422
    assert api.get("/api/target-groups/h").status == 404


def test_rejected_job_leaves_no_job(api: Any) -> None:
    seed(api)
    reply = api.put(
        "/api/jobs/new", {"steps": [step(), step(step_name="b", target_group_name="missing")]}
    )
    assert reply.status == 422 and reply.body["field"] == "steps[1].target_group_name"
    assert api.get("/api/jobs/new").status == 404
    before = api.get("/api/jobs/j").body
    reply = api.put(
        "/api/jobs/j", {"description": "changed", "steps": [step(credential_name="missing")]}
    )
    assert reply.status == 422
    assert api.get("/api/jobs/j").body == before


def test_member_taken_from_another_group_is_refused(api: Any) -> None:
    seed(api)
    target_id = api.get("/api/target-groups/g").body["members"][0]["target_id"]
    reply = api.put(
        "/api/target-groups/other", {"members": [{**DATABASE_MEMBER, "target_id": target_id}]}
    )
    assert reply.status == 422 and reply.body["field"] == "members[0].target_id"
    assert api.get("/api/target-groups/other").status == 404


def test_failure_after_partial_writes_rolls_everything_back(
    api: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seed(api)

    def broken_version(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("disk full")

    # The job row and its version 0 are written before the steps' version fails.
    monkeypatch.setattr(sqlfleet.store.jobs, "write_version", broken_version)
    reply = api.put("/api/jobs/new", {"description": "x", "steps": [step()]})
    assert reply.status == 500 and reply.body["code"] == "InternalError"
    assert "disk full" not in reply.text
    assert api.get("/api/jobs/new").status == 404
    assert api.post("/api/jobs/j/steps", step(step_name="b")).status == 500
    monkeypatch.undo()
    assert api.get("/api/jobs/j").body["job_version"] == 1
    assert [j["name"] for j in api.get("/api/jobs").body["value"]] == ["j"]
    assert any("internal error" in r.getMessage() for r in caplog.records)
