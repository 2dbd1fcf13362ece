"""Round trips: what ending a step, reading output and cancelling ask of the job database,
counted (``tests.support.statements``): the same whatever the number of targets, in one
transaction where one suffices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from unittest.mock import ANY

import pytest

from activities.bookkeeping import finish_step
from sqlfleet.durable import names
from sqlfleet.durable.lanes import retry_sleepers
from sqlfleet.durable.messages import StepEnd, StepOutcome, StepRef
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import JobIn, TargetSpec, validate_document
from sqlfleet.runtime import use_job_store
from sqlfleet.settings import Settings
from sqlfleet.store import SqlJobStore
from tests.support.clocks import Clock
from tests.support.statements import Statements, counted

L = Lifecycle
SIZES = (3, 60)
LATER = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
finish_step_activity = finish_step._function.get_user_function()


@pytest.fixture
def activities(store: SqlJobStore, settings: Settings) -> Iterator[None]:
    """The activities use ``store``."""
    use_job_store(store, settings)
    try:
        yield
    finally:
        use_job_store(None)


def running(store: SqlJobStore, job: str, count: int, *, ended: Lifecycle | None) -> str:
    """An execution of ``job`` whose step 1 has ``count`` targets, each started and, with
    ``ended``, ended so (``WaitingForRetry``: until ``LATER``, with two messages)."""
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    store.transition(execution_id, L.WAITING_FOR_CHILD_JOB_EXECUTIONS, step_id=1)
    specs = [
        # A server of its own: another execution's running targets would make these Skipped.
        TargetSpec(target_type="database", server_name=execution_id, database_name=f"db{n}")
        for n in range(count)
    ]
    store.create_target_rows(execution_id, 1, specs)
    for ordinal in range(count):
        store.start_target_attempt(execution_id, 1, ordinal, 1)
        if ended is not None:
            store.finish_target_attempt(
                execution_id, 1, ordinal, 1, ended, messages=["one", "two"],
                next_attempt_start_time=LATER if ended == L.WAITING_FOR_RETRY else None,
            )  # fmt: skip
    return execution_id


def each_size(
    store: SqlJobStore, prepare: Callable[[int], str], call: Callable[[str], object]
) -> list[tuple[Statements, object]]:
    """``call`` on an execution that ``prepare`` made for each of ``SIZES``, counted."""
    seen = []
    for size in SIZES:
        execution_id = prepare(size)
        with counted(store) as statements:
            answer = call(execution_id)
        seen.append((statements, answer))
    return seen


# How the step's targets are when finish_step runs, what its input says, and at most how many
# statements it sends. Before it was one store call, it took 10 statements in 4 transactions
# (succeeded), 12 in 5 (failed), 14 in 6 (cancel) and 6 + 2 per target in 5 + 1 per target
# (error).
FINISH_STEP_CASES = {
    "succeeded": (L.SUCCEEDED, {}, 5),
    "failed": (L.FAILED, {}, 5),
    "failed, on_failure from the job version": (L.FAILED, {"on_failure": None}, 6),
    "retry lanes hold targets": (L.WAITING_FOR_RETRY, {}, 3),
    "a batch failed": (None, {"error": "batch 1 failed"}, 6),
    "cancel": (None, {"cancel": True}, 6),
}


@pytest.mark.parametrize("case", sorted(FINISH_STEP_CASES))
def test_finish_step_is_one_transaction_whatever_the_number_of_targets(
    store: SqlJobStore, job: str, clock: Clock, activities: None, case: str
) -> None:
    ended, given, most = FINISH_STEP_CASES[case]

    def prepare(size: int) -> str:
        execution_id = running(store, job, size, ended=ended)
        if given.get("cancel"):
            store.request_cancel(execution_id)
        return execution_id

    def call(execution_id: str) -> StepOutcome:
        end = StepEnd(
            StepRef(execution_id, 1),
            error=given.get("error"),
            last=True,
            on_failure=given.get("on_failure", "fail"),
        )
        return StepOutcome.from_json(finish_step_activity(end.to_json()))

    (small, first), (big, second) = each_size(store, prepare, call)
    assert (small.transactions, big.transactions) == (1, 1)
    assert small.count == big.count <= most, big.sql
    assert isinstance(first, StepOutcome) and isinstance(second, StepOutcome)
    assert first.pending == second.pending == (ended == L.WAITING_FOR_RETRY)
    assert first.lifecycle == second.lifecycle


def test_a_page_of_output_costs_the_same_whatever_its_size(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    def prepare(size: int) -> str:
        return running(store, job, size, ended=L.SUCCEEDED)

    kept = each_size(store, prepare, lambda e: store.page_target_outputs(e, top=100))
    assert [len(page.items) for _, page in kept] == list(SIZES)  # type: ignore[attr-defined]
    assert [(seen.count, seen.transactions) for seen, _ in kept] == [(6, 1)] * 2
    received = each_size(store, prepare, lambda e: store.receive_target_outputs(e, top=100))
    assert [len(page.items) for _, page in received] == list(SIZES)  # type: ignore[attr-defined]
    assert [(seen.count, seen.transactions) for seen, _ in received] == [(8, 1)] * 2


@pytest.fixture
def bounded_job(store: SqlJobStore, job: str) -> str:
    """Job ``b``: one step on group ``g`` in at most 4 lanes, up to 2 retries."""
    step = {"command": "SELECT 1", "target_group_name": "g", "retry_attempts": 2}
    store.put_job("b", validate_document(JobIn, {"steps": [{**step, "max_parallelism": 4}]}))
    return "b"


def test_a_cancel_reads_the_execution_once_and_its_sleepers_in_a_few_statements(
    store: SqlJobStore, bounded_job: str, clock: Clock
) -> None:
    """What ``POST /api/executions/{id}/cancel`` asks of the store while the orchestration
    runs: mark the execution, then find the lanes asleep on a retry timer."""

    def prepare(size: int) -> str:
        return running(store, bounded_job, size, ended=L.WAITING_FOR_RETRY)

    def cancel(execution_id: str) -> tuple[bool, list[str]]:
        execution = store.request_cancel(execution_id)
        return execution.cancel_requested, retry_sleepers(store, execution_id)

    seen = each_size(store, prepare, cancel)
    assert [answer for _, answer in seen] == [(True, [ANY] * min(4, size)) for size in SIZES]
    for statements, _ in seen:
        # request_cancel: the job row under its lock, its update, the step rows (3 statements,
        # one transaction); retry_sleepers: the waiting targets (2), the job version (4) and
        # the steps' numbers of targets (2, counted in the database).
        assert (statements.count, statements.transactions) == (11, 4), statements.sql


def test_retry_sleepers_names_the_lanes_of_waiting_targets(
    store: SqlJobStore, bounded_job: str, job: str, clock: Clock
) -> None:
    bounded = running(store, bounded_job, 6, ended=L.WAITING_FOR_RETRY)
    for ordinal in (1, 5):  # lane 1 of 4 holds ordinals 1 and 5
        store.transition(bounded, L.FAILED, step_id=1, ordinal=ordinal)
    assert retry_sleepers(store, bounded) == sorted(
        names.lane_instance_id(bounded, 1, lane) for lane in (0, 2, 3)
    )
    unbounded = running(store, job, 2, ended=L.WAITING_FOR_RETRY)
    assert retry_sleepers(store, unbounded) == sorted(
        names.retry_instance_id(unbounded, 1, ordinal) for ordinal in (0, 1)
    )
