"""``run_chunk``'s turns (``sqlfleet.targetruns``): a chunk's first turn holds one target the
first time its step runs in this process, and as many as fit in ``TURN_SECONDS`` at the pace
the step's last turn saw once it has run: a small chunk of a job run before takes one turn."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlfleet import targetruns
from sqlfleet.credentials import seal
from sqlfleet.durable.messages import StepRef, TargetRange
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import CredentialIn, JobIn, TargetSpec, validate_document
from sqlfleet.runtime import settings
from sqlfleet.store import SqlJobStore
from tests.foundation.conftest import SQLITE_FILES
from tests.foundation.fleet import MANAGED, PASSWORD

L = Lifecycle
TARGETS = SQLITE_FILES


@pytest.fixture
def fleet(store: SqlJobStore, sqlite_files: Path) -> str:
    """A job (a name of its own: paces are remembered per job) of one step on the
    ``TARGETS`` SQLite files of ``sqlite_files`` (in ``tmp_path``)."""
    job = f"turns-{uuid.uuid4().hex[:8]}"
    step = {"command": "SELECT 1", "target_group_name": "files"}
    store.put_job(job, validate_document(JobIn, {"steps": [step]}))
    return job


def run_once(store: SqlJobStore, job: str, folder: Path, *, local: bool = True) -> list[list[int]]:
    """Run an execution's targets as one chunk; answer the ordinals each turn started."""
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    store.transition(execution_id, L.WAITING_FOR_CHILD_JOB_EXECUTIONS, step_id=1)
    specs = [
        TargetSpec(target_type="server", engine="sqlite", server_name=str(folder),
                   database_name=f"db{n}")
        for n in range(TARGETS)
    ]  # fmt: skip
    store.create_target_rows(execution_id, 1, specs)
    turns: list[list[int]] = []
    real_turn = store.turn_target_chunk

    def turn(*args: Any, **kwargs: Any) -> Any:
        answer = real_turn(*args, **kwargs)
        if answer.started:
            turns.append([target.ordinal for target in answer.started])
        return answer

    store.turn_target_chunk = turn  # type: ignore[method-assign]
    try:
        chunk = TargetRange(StepRef(execution_id, 1), 0, TARGETS, local)
        assert targetruns.run_chunk(store, chunk, lambda run, answer: None) == TARGETS
    finally:
        del store.turn_target_chunk
    rows = store.list_target_executions(execution_id, step_id=1)
    assert [row.lifecycle for row in rows] == [L.SUCCEEDED] * TARGETS, rows
    return turns


def job_signing_in_with(store: SqlJobStore, credential: str, document: dict[str, Any]) -> str:
    """A job (a name of its own) of one step on the ``files`` group that signs in with
    ``credential``, stored from ``document``."""
    store.put_credential(seal(credential, validate_document(CredentialIn, document), settings()))
    job = f"signed-{uuid.uuid4().hex[:8]}"
    step = {"command": "SELECT 1", "target_group_name": "files", "credential_name": credential}
    store.put_job(job, validate_document(JobIn, {"steps": [step]}))
    return job


@contextlib.contextmanager
def credential_reads(store: SqlJobStore) -> Iterator[list[str]]:
    """The names of the credentials the store reads within the block, in order."""
    reads: list[str] = []
    real_read = store.get_credential_record

    def read(name: str) -> Any:
        reads.append(name)
        return real_read(name)

    store.get_credential_record = read  # type: ignore[method-assign]
    try:
        yield reads
    finally:
        del store.get_credential_record


def test_the_first_turn_learns_the_pace_and_the_next_run_starts_in_one_turn(
    store: SqlJobStore, fleet: str, tmp_path: Path
) -> None:
    assert run_once(store, fleet, tmp_path) == [[0], [1, 2, 3]]
    assert run_once(store, fleet, tmp_path) == [[0, 1, 2, 3]]


def test_a_first_turn_holds_at_most_first_turn_most_targets(
    store: SqlJobStore, fleet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However fast the step ran before, a chunk's first transaction starts few targets (the
    step's other chunks wait for the write lock meanwhile); the next turn takes the rest."""
    monkeypatch.setattr(targetruns, "FIRST_TURN_MOST", 2)
    assert run_once(store, fleet, tmp_path) == [[0], [1, 2, 3]]
    assert run_once(store, fleet, tmp_path) == [[0, 1], [2, 3]]


def test_chunks_find_the_steps_begin_execution_read(store: SqlJobStore, fleet: str) -> None:
    """``begin_execution`` reads the job version anyway and leaves its steps with the script
    runner, so the execution's chunks (all starting at once) do not read them again."""
    from activities.bookkeeping import begin_execution
    from sqlfleet.scriptruns import script_runner

    execution_id = store.create_job_execution(fleet).job_execution_id
    begin_execution(execution_id, "")

    def unexpected(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the steps were read again")

    store.get_execution_version = unexpected  # type: ignore[method-assign]
    try:
        step = script_runner.step(store, execution_id, 1)
    finally:
        del store.get_execution_version
    assert (step.step_id, step.command, step.job_name) == (1, "SELECT 1", fleet)


def test_a_turn_in_this_process_signs_in_once(
    store: SqlJobStore, sqlite_files: Path, tmp_path: Path
) -> None:
    """Targets a chunk runs in the host (not local: one after the other) share their turn's
    sign-in: one credential read per turn, not per target."""
    job = job_signing_in_with(store, "turn-pw", PASSWORD)
    with credential_reads(store) as reads:
        turns = run_once(store, job, tmp_path, local=False)
    assert sum(map(len, turns)) == TARGETS and len(turns) < TARGETS, turns
    assert reads == ["turn-pw"] * len(turns)


def test_a_turn_whose_sign_in_fails_fails_its_targets_and_the_chunk_goes_on(
    store: SqlJobStore, sqlite_files: Path
) -> None:
    """Server targets run in the host sign in once per turn; when that sign-in fails (here a
    managed identity, which PostgreSQL targets do not take), every target of the turn fails
    with the reason, refused for good (no retry), no server is contacted, and the chunk still
    handles all its targets."""
    job = job_signing_in_with(store, "turn-mi", MANAGED)
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    store.transition(execution_id, L.WAITING_FOR_CHILD_JOB_EXECUTIONS, step_id=1)
    # Port 9 (discard): nothing there would answer, and nothing may be asked.
    specs = [
        TargetSpec(target_type="database", engine="postgresql", server_name="127.0.0.1",
                   port=9, database_name=f"db{n}")
        for n in range(TARGETS)
    ]  # fmt: skip
    store.create_target_rows(execution_id, 1, specs)
    lanes: list[Any] = []
    with credential_reads(store) as reads:
        chunk = TargetRange(StepRef(execution_id, 1), 0, TARGETS, False)
        handled = targetruns.run_chunk(store, chunk, lambda run, answer: lanes.append(run))
    assert handled == TARGETS
    assert lanes == []  # refused for good: no retry lane
    rows = store.list_target_executions(execution_id, step_id=1)
    assert [row.lifecycle for row in rows] == [L.FAILED] * TARGETS, rows
    for row in rows:
        assert row.current_attempts == 1
        assert "signing in" in (row.last_message or ""), row.last_message
        assert "managedIdentity sign-in for postgresql" in (row.last_message or "")
    assert 1 <= len(reads) < TARGETS, reads  # once per turn, not per target
    # The failures left outcome details; the store's tests count those of the whole database.
    store.end_job_execution(execution_id, L.FAILED, "done")
    store.purge_execution(execution_id)
