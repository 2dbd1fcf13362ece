"""Job versions (Elastic Jobs' rules): every step change makes a new version, ids stay 1..n,
older versions stay readable, executions keep the version they started with."""

from __future__ import annotations

from typing import Any

from sqlfleet.store import SqlJobStore
from tests.foundation.fleet import seed, step


def names(api: Any, version: int | None = None) -> list[tuple[int, str]]:
    query = "" if version is None else f"?version={version}"
    return [
        (s["step_id"], s["step_name"]) for s in api.get(f"/api/jobs/j/steps{query}").body["value"]
    ]


def version(api: Any) -> int:
    return int(api.get("/api/jobs/j").body["job_version"])


def test_add_insert_move_delete_each_bump_the_version(api: Any) -> None:
    seed(api)
    assert (version(api), names(api)) == (1, [(1, "first")])
    assert api.post("/api/jobs/j/steps", step(step_name="second")).body["step_id"] == 2
    assert version(api) == 2
    inserted = api.post("/api/jobs/j/steps", step(step_name="zero", step_id=1))
    assert inserted.body["step_id"] == 1 and inserted.body["job_version"] == 3
    assert names(api) == [(1, "zero"), (2, "first"), (3, "second")]
    moved = api.patch("/api/jobs/j/steps/second", {"new_id": 1})
    assert moved.status == 200 and moved.body["step_id"] == 1
    assert (version(api), names(api)) == (4, [(1, "second"), (2, "zero"), (3, "first")])
    moved_down = api.put("/api/jobs/j/steps/1", step(new_id=3))
    assert moved_down.body["step_id"] == 3 and moved_down.body["step_name"] == "second"
    assert (version(api), names(api)) == (5, [(1, "zero"), (2, "first"), (3, "second")])
    assert api.delete("/api/jobs/j/steps/1").status == 204
    assert (version(api), names(api)) == (6, [(1, "first"), (2, "second")])
    assert api.delete("/api/jobs/j/steps/second").status == 204
    assert (version(api), names(api)) == (7, [(1, "first")])
    assert api.delete("/api/jobs/j/steps/5").status == 404
    assert version(api) == 7


def test_older_versions_stay_readable(api: Any) -> None:
    seed(api)
    api.patch("/api/jobs/j/steps/1", {"command": "SELECT 2", "max_parallelism": 8})
    api.post("/api/jobs/j/steps", step(step_name="second"))
    versions = api.get("/api/jobs/j/versions").body["value"]
    assert [(v["job_version"], v["step_count"]) for v in versions] == [
        (0, 0),
        (1, 1),
        (2, 1),
        (3, 2),
    ]
    v1 = api.get("/api/jobs/j/versions/1").body
    assert v1["steps"][0]["command"] == "SELECT 1"
    assert v1["steps"][0]["max_parallelism"] is None
    assert api.get("/api/jobs/j/versions/2").body["steps"][0]["max_parallelism"] == 8
    assert api.get("/api/jobs/j/steps/1?version=1").body["command"] == "SELECT 1"
    assert names(api, 0) == []
    missing = api.get("/api/jobs/j/versions/9")
    assert missing.status == 404 and "version 3" in missing.body["message"]


def test_patch_null_resets_and_renames(api: Any) -> None:
    seed(api)
    api.patch(
        "/api/jobs/j/steps/1",
        {
            "max_parallelism": 3,
            "output": {"server_name": "s", "database_name": "d", "table_name": "t"},
        },
    )
    reset = api.patch(
        "/api/jobs/j/steps/1", {"max_parallelism": None, "output": None, "new_name": "renamed"}
    )
    assert reset.status == 200
    assert reset.body["max_parallelism"] is None and reset.body["output"] is None
    assert reset.body["step_name"] == "renamed" and reset.body["job_version"] == 3
    assert api.get("/api/jobs/j/steps/first").status == 404


def test_identical_replacement_writes_no_version(api: Any) -> None:
    seed(api)
    current = api.get("/api/jobs/j/steps/1").body
    same = api.put("/api/jobs/j/steps/1", step(step_name="first"))
    assert same.status == 200 and same.body == current
    assert api.put("/api/jobs/j", {"steps": [step(step_name="first")]}).body["job_version"] == 1
    assert api.patch("/api/jobs/j/steps/1", {"command": "SELECT 1"}).body["job_version"] == 1
    assert version(api) == 1


def test_put_step_creates_by_next_id_or_new_name(api: Any) -> None:
    seed(api)
    by_id = api.put("/api/jobs/j/steps/2", step(step_name="two"))
    assert by_id.status == 201 and by_id.body["step_id"] == 2
    assert by_id.headers["Location"] == "/api/jobs/j/steps/2"
    by_name = api.put("/api/jobs/j/steps/three", step())
    assert by_name.status == 201 and (by_name.body["step_id"], by_name.body["step_name"]) == (
        3,
        "three",
    )
    gap = api.put("/api/jobs/j/steps/9", step(step_name="nine"))
    assert gap.status == 404 and "POST /api/jobs/j/steps" in gap.body["message"]
    assert version(api) == 3


def test_put_job_with_steps_replaces_them_as_one_version(api: Any) -> None:
    seed(api)
    reply = api.put(
        "/api/jobs/j",
        {"description": "two steps", "steps": [step(), step(step_name="b", command="SELECT 2")]},
    )
    assert reply.status == 200 and reply.body["job_version"] == 2
    assert [(s["step_id"], s["step_name"]) for s in reply.body["steps"]] == [
        (1, "JobStep"),
        (2, "b"),
    ]
    kept = api.put("/api/jobs/j", {"description": "steps left out are kept"})
    assert kept.body["job_version"] == 2 and len(kept.body["steps"]) == 2
    cleared = api.put("/api/jobs/j", {"steps": []})
    assert cleared.body["job_version"] == 3 and cleared.body["steps"] == []


def test_duplicate_step_name_is_a_conflict(api: Any) -> None:
    seed(api)
    reply = api.post("/api/jobs/j/steps", step(step_name="first"))
    assert reply.status == 409 and reply.body["code"] == "Conflict"
    assert "already has a step named 'first'" in reply.body["message"]
    assert reply.body["field"] == "step_name"
    rename = api.post("/api/jobs/j/steps", step(step_name="second"))
    assert rename.status == 201
    clash = api.patch("/api/jobs/j/steps/second", {"new_name": "first"})
    assert clash.status == 409
    assert version(api) == 2


def test_executions_keep_their_version(api: Any, store: SqlJobStore) -> None:
    seed(api)
    execution = store.create_job_execution("j")
    assert execution.job_version == 1
    api.patch("/api/jobs/j/steps/1", {"command": "SELECT 'changed'"})
    api.post("/api/jobs/j/steps", step(step_name="later"))
    assert version(api) == 3
    running = store.get_execution_version(execution.job_execution_id)
    assert running.job_version == 1
    assert [(s.step_name, s.command) for s in running.steps] == [("first", "SELECT 1")]
    again = store.get_job_execution(execution.job_execution_id)
    assert [s.step_name for s in again.steps] == ["first"]
    newer = store.create_job_execution("j")
    assert newer.job_version == 3 and [s.step_id for s in newer.steps] == [1, 2]


def test_concurrent_step_additions_each_get_their_own_version(store: SqlJobStore, api: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sqlfleet.models import StepIn, validate_document

    seed(api)
    documents = [validate_document(StepIn, step(step_name=f"s{i}")) for i in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        added = list(pool.map(lambda document: store.add_step("j", document), documents))
    assert sorted(s.job_version for s in added) == [2, 3, 4, 5, 6, 7]
    steps = store.list_steps("j")
    assert [s.step_id for s in steps] == [1, 2, 3, 4, 5, 6, 7]
    assert sorted(s.step_name for s in steps[1:]) == [f"s{i}" for i in range(6)]
    assert [v.step_count for v in store.list_job_versions("j")] == [0, 1, 2, 3, 4, 5, 6, 7]
