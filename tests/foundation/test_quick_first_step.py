"""``begin_execution`` runs a small first step to its end (``Plan.ran``), and ``expand_step``
any later one (``Expansion.ran``), as the orchestration's ``run_targets`` and ``finish_step``
would have: up to ``QUICK_TARGETS`` SQLite files on the host, up to a batch of other targets.
Anything else (a bounded step, a big one, no target slot, an orchestration of an older
version) they leave to the orchestration untouched."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from activities import bookkeeping, slots
from activities.bookkeeping import begin_execution, expand_step
from sqlfleet.credentials import seal
from sqlfleet.durable.messages import StepEnd, StepRef, StepStart
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import CredentialIn, JobIn, TargetGroupIn, validate_document
from sqlfleet.runtime import settings
from sqlfleet.store import SqlJobStore
from tests.foundation.conftest import SQLITE_FILES, PostgresDatabase

L = Lifecycle
TARGETS = SQLITE_FILES
NO_CLIENT = "{}"  # no retry lane is started here: every target succeeds


@pytest.fixture
def files(sqlite_files: Path) -> Path:
    return sqlite_files


def begin(store: SqlJobStore, *steps: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Begin an execution of a new job of ``steps`` (on the files); its id and plan."""
    job = f"quick-{uuid.uuid4().hex[:8]}"
    store.put_job(job, validate_document(JobIn, {"steps": list(steps)}))
    execution_id = store.create_job_execution(job).job_execution_id
    return execution_id, begin_execution(execution_id, NO_CLIENT)


def lifecycles(store: SqlJobStore, execution_id: str) -> list[Lifecycle]:
    return [row.lifecycle for row in store.list_target_executions(execution_id, step_id=1)]


STEP = {"command": "CREATE TABLE IF NOT EXISTS t (n int)", "target_group_name": "files"}


def test_a_small_only_step_runs_and_ends_the_execution(store: SqlJobStore, files: Path) -> None:
    execution_id, plan = begin(store, STEP)
    assert plan["first"] == {"targets": TARGETS, "local": True}
    ended = {"job_execution_id": execution_id, "lifecycle": "Succeeded"}
    assert plan["ran"]["lifecycle"] == "Succeeded"
    assert plan["ran"]["execution"].items() >= ended.items()
    assert lifecycles(store, execution_id) == [L.SUCCEEDED] * TARGETS
    rows = store.list_target_executions(execution_id, step_id=1)
    assert [row.current_attempts for row in rows] == [1] * TARGETS
    assert store.get_job_execution(execution_id, include_targets=False).lifecycle == L.SUCCEEDED


def test_a_first_of_two_steps_ends_but_not_the_execution(store: SqlJobStore, files: Path) -> None:
    second = {**STEP, "step_name": "second", "command": "SELECT 2"}
    execution_id, plan = begin(store, {**STEP, "step_name": "first"}, second)
    assert plan["ran"] == {"lifecycle": "Succeeded", "stop": False}
    assert lifecycles(store, execution_id) == [L.SUCCEEDED] * TARGETS
    execution = store.get_job_execution(execution_id, include_targets=False)
    assert execution.is_active and [s.lifecycle for s in execution.steps] == [
        L.SUCCEEDED,
        L.CREATED,
    ]


def test_a_later_small_step_runs_in_expand_step_when_the_orchestration_says_how_it_ends(
    store: SqlJobStore, files: Path
) -> None:
    second = {**STEP, "step_name": "second", "command": "SELECT 2"}
    execution_id, _ = begin(store, {**STEP, "step_name": "first"}, second)
    ref = StepRef(execution_id, 2)
    finish = StepEnd(ref, None, True, None, "fail")
    answer = expand_step(StepStart(ref, finish).to_json(), NO_CLIENT)
    assert answer["targets"] == TARGETS and answer["ran"]["lifecycle"] == "Succeeded"
    assert answer["ran"]["execution"]["lifecycle"] == "Succeeded"
    rows = store.list_target_executions(execution_id, step_id=2)
    assert [row.lifecycle for row in rows] == [L.SUCCEEDED] * TARGETS
    # an orchestration of an older version says nothing of the end: it runs the step itself
    execution_id, _ = begin(store, {**STEP, "step_name": "first"}, second)
    answer = expand_step(StepRef(execution_id, 2).to_json(), NO_CLIENT)
    assert answer == {"targets": TARGETS, "local": True}
    rows = store.list_target_executions(execution_id, step_id=2)
    assert [row.lifecycle for row in rows] == [L.CREATED] * TARGETS


def test_bounded_and_big_steps_go_to_the_orchestration(
    store: SqlJobStore, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution_id, plan = begin(store, {**STEP, "max_parallelism": 2})
    assert "ran" not in plan and lifecycles(store, execution_id) == [L.CREATED] * TARGETS
    monkeypatch.setattr(bookkeeping, "QUICK_TARGETS", TARGETS - 1)
    execution_id, plan = begin(store, STEP)
    assert "ran" not in plan and lifecycles(store, execution_id) == [L.CREATED] * TARGETS


class _Slots(slots.TargetSlots):
    """Target slots that note how long each taker would wait."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.waits: list[float] = []

    def _take(self, execution_id: str, wait: float) -> bool:
        self.waits.append(wait)
        return super()._take(execution_id, wait)


def test_without_a_target_slot_the_step_goes_to_the_orchestration(
    store: SqlJobStore, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk that finds no slot free at once handles nothing (without the wait of a
    ``run_targets`` chunk: the orchestration's chunks do the waiting), and the step is the
    orchestration's (whose chunks would skip targets another chunk here ran, as on a
    redelivery)."""
    few = _Slots(4)  # one execution holds at most three
    monkeypatch.setattr(slots, "target_slots", few)
    job = f"quick-{uuid.uuid4().hex[:8]}"
    store.put_job(job, validate_document(JobIn, {"steps": [STEP]}))
    execution_id = store.create_job_execution(job).job_execution_id
    with contextlib.ExitStack() as held:
        assert all(held.enter_context(few.slot(execution_id)) for _ in range(3))
        plan = begin_execution(execution_id, NO_CLIENT)
    assert few.waits[3:] == [0, 0], "the chunks asked for slots free at once"
    assert "ran" not in plan and plan["first"]["targets"] == TARGETS
    assert lifecycles(store, execution_id) == [L.CREATED] * TARGETS
    assert store.get_job_execution(execution_id, include_targets=False).is_active


def test_a_small_step_of_other_targets_runs_in_begin_execution_too(
    store: SqlJobStore, files: Path, postgres_database: PostgresDatabase
) -> None:
    """A step of a PostgreSQL database and the SQLite files (not all on the host: in ranges
    of a few targets, run in the host's threads) runs and ends in ``begin_execution``."""
    server = postgres_database.server
    credential = {"kind": "password", "username": server.user, "password": "unused-by-trust"}
    store.put_credential(seal("quick-pg", validate_document(CredentialIn, credential), settings()))
    members = [
        {"target_type": "server", "engine": "sqlite", "server_name": str(files)},
        {"target_type": "database", "engine": "postgresql", "server_name": server.host,
         "port": server.port, "database_name": postgres_database.name},
    ]  # fmt: skip
    store.put_target_group("mixed", validate_document(TargetGroupIn, {"members": members}))
    step = {"command": "SELECT 1", "target_group_name": "mixed", "credential_name": "quick-pg"}
    execution_id, plan = begin(store, step)
    assert plan["first"] == {"targets": TARGETS + 1}  # not all local
    assert plan["ran"]["lifecycle"] == "Succeeded", plan
    rows = store.list_target_executions(execution_id, step_id=1)
    assert [row.lifecycle for row in rows] == [L.SUCCEEDED] * (TARGETS + 1)
    assert {row.target.engine.value for row in rows} == {"sqlite", "postgresql"}
