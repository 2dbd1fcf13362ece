"""Job versions are pruned: each job keeps its newest ``SQLFLEET_JOB_VERSIONS_KEPT`` versions and
every version an execution in the history ran; the others go when a version is written and when
executions leave the history. So repeated PUTs of a big job no longer grow the job database for
good (before: 50 steps of 1 MiB added 50 MB on every PUT)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sqlfleet.errors import SettingError
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import JobIn, TargetGroupIn, validate_document
from sqlfleet.settings import load_settings
from sqlfleet.store import SqlJobStore, open_job_store
from tests.foundation.fleet import seed, step

STEPS = 50
COMMAND_BYTES = 1_048_576  # the longest command a step may have


def versions(api: Any) -> list[int]:
    return [v["job_version"] for v in api.get("/api/jobs/j/versions").body["value"]]


def test_only_the_newest_versions_and_those_executions_ran_are_kept(
    api: Any, store: SqlJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "_versions_kept", 3)
    seed(api)
    ran = store.create_job_execution("j").job_execution_id  # runs version 1
    for number in range(2, 7):
        reply = api.put(
            "/api/jobs/j", {"steps": [step(step_name="first", command=f"SELECT {number}")]}
        )
        assert reply.status == 200 and reply.body["job_version"] == number
    assert versions(api) == [1, 4, 5, 6]
    gone = api.get("/api/jobs/j/versions/2")
    assert gone.status == 404 and "keeps" in gone.body["message"], gone.body
    # The execution still shows the steps it ran, whatever happened to the job since.
    assert store.get_execution_version(ran).steps[0].command == "SELECT 1"
    assert api.get("/api/jobs/j/versions/1").body["steps"][0]["command"] == "SELECT 1"

    # Once that execution leaves the history, so does its version.
    store.end_job_execution(ran, Lifecycle.CANCELED, "test")
    store.purge_execution(ran)  # what DELETE /api/executions/{id} does in the job database
    assert versions(api) == [4, 5, 6]
    # Step edits prune too, and the current version is always there.
    assert api.patch("/api/jobs/j/steps/1", {"command": "SELECT 7"}).status == 200
    assert versions(api) == [5, 6, 7]
    assert api.get("/api/jobs/j").body["steps"][0]["command"] == "SELECT 7"


def test_history_purges_prune_the_versions_their_executions_ran(
    store: SqlJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "_versions_kept", 1)
    member = {"target_type": "database", "server_name": "s", "database_name": "d"}
    store.put_target_group("g", validate_document(TargetGroupIn, {"members": [member]}))
    executions = []
    for number in range(1, 4):
        document = {"steps": [{"command": f"SELECT {number}", "target_group_name": "g"}]}
        store.put_job("p", validate_document(JobIn, document))
        execution = store.create_job_execution("p").job_execution_id
        store.end_job_execution(execution, Lifecycle.CANCELED, "done")
        executions.append(execution)
    assert [v.job_version for v in store.list_job_versions("p")] == [1, 2, 3]
    future = store.get_job_execution(executions[-1]).create_time.replace(year=9999)
    assert sorted(store.purge_history(future)) == sorted(executions)
    assert [v.job_version for v in store.list_job_versions("p")] == [3]


def file_bytes(database: Path) -> int:
    wal = database.with_name(database.name + "-wal")
    return database.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_putting_a_50_step_1_mib_job_again_and_again_stops_growing_the_database(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        {"SQLFLEET_DATA_DIR": str(tmp_path), "SQLFLEET_JOB_VERSIONS_KEPT": "2"}
    )
    database = tmp_path / "jobs.db"
    store = open_job_store(settings)
    try:
        member = {"target_type": "database", "server_name": "s", "database_name": "d"}
        store.put_target_group("g", validate_document(TargetGroupIn, {"members": [member]}))
        sizes = []
        for number in range(6):
            steps = [
                {
                    "step_name": f"s{index}",
                    "command": f"SELECT {number};\n--".ljust(COMMAND_BYTES, "x"),
                    "target_group_name": "g",
                }
                for index in range(STEPS)
            ]
            store.put_job("big", validate_document(JobIn, {"steps": steps}))
            sizes.append(file_bytes(database))
    finally:
        store.close()
    print("job database after each PUT (MB):", [round(size / 1e6) for size in sizes])
    connection = sqlite3.connect(database)
    try:
        kept = connection.execute("SELECT count(*), sum(length(command)) FROM job_steps").fetchone()
    finally:
        connection.close()
    assert kept == (2 * STEPS, 2 * STEPS * COMMAND_BYTES)
    # Grows while versions accumulate, then reuses the pages pruned versions left.
    assert sizes[1] > sizes[0] + STEPS * COMMAND_BYTES * 0.9
    assert max(sizes[3:]) <= sizes[2] * 1.02, sizes


@pytest.mark.parametrize("value", ["0", "-1", "ten", "1000001"])
def test_the_setting_is_checked(value: str) -> None:
    with pytest.raises(SettingError, match="SQLFLEET_JOB_VERSIONS_KEPT"):
        load_settings({"SQLFLEET_JOB_VERSIONS_KEPT": value})
