"""The execution side of the job store, on SQLite and PostgreSQL: the calls activities make."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from sqlfleet.errors import BadRequest, Conflict, IllegalTransition, NotFound, TargetsStillActive
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import (
    JobIn,
    ResultSet,
    TargetGroupIn,
    TargetSpec,
    validate_document,
)
from sqlfleet.models.executions import (
    MAX_MESSAGES_PER_ATTEMPT,
    MAX_RESULT_ROWS,
    ErrorDetail,
    MessageDetail,
    TargetDetail,
)
from sqlfleet.models.jobs import OnFailure
from sqlfleet.store import SqlJobStore, StartOutcome
from sqlfleet.store.rows import E
from sqlfleet.store.tables import target_outcomes
from tests.support.clocks import Clock

L = Lifecycle


@pytest.fixture
def job(store: SqlJobStore, clock: Clock) -> str:
    store.put_target_group(
        "g",
        validate_document(
            TargetGroupIn,
            {"members": [{"target_type": "database", "server_name": "s", "database_name": "d"}]},
        ),
    )
    steps = [
        {"command": "SELECT 1", "target_group_name": "g", "retry_attempts": 2},
        {"step_name": "two", "command": "SELECT 2", "target_group_name": "g"},
    ]
    store.put_job("j", validate_document(JobIn, {"steps": steps}))
    return "j"


def targets(*databases: str) -> list[TargetSpec]:
    return [
        TargetSpec(target_type="database", target_id=None, server_name="S1", database_name=name)
        for name in databases
    ]


def test_execution_snapshot_has_every_elastic_jobs_column(store: SqlJobStore, job: str) -> None:
    execution = store.create_job_execution(job, instance_id="inst-1")
    row = execution.model_dump()
    for column in (
        "job_execution_id",
        "job_name",
        "job_id",
        "job_version",
        "step_id",
        "step_name",
        "is_active",
        "lifecycle",
        "create_time",
        "start_time",
        "end_time",
        "current_attempts",
        "current_attempt_start_time",
        "next_attempt_start_time",
        "last_message",
        "target_type",
        "target_id",
        "target_group_name",
        "target_server_name",
        "target_database_name",
    ):
        assert column in row
    assert (execution.step_id, execution.lifecycle, execution.is_active) == (None, L.CREATED, True)
    assert execution.current_attempts == 0 and execution.instance_id == "inst-1"
    assert [(s.step_id, s.step_name, s.target_group_name) for s in execution.steps] == [
        (1, "JobStep", "g"),
        (2, "two", "g"),
    ]
    again = store.create_job_execution(job, job_execution_id=execution.job_execution_id)
    assert again.create_time == execution.create_time
    assert len(store.list_job_executions().items) == 1


def test_job_without_steps_cannot_start(store: SqlJobStore, clock: Clock) -> None:
    store.put_job("empty", JobIn())
    with pytest.raises(Conflict, match="has no steps"):
        store.create_job_execution("empty")
    with pytest.raises(NotFound):
        store.create_job_execution("nope")


def test_targets_are_created_once_with_ordinals(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    assert store.create_target_rows(execution_id, 1, targets("a", "b", "a", "c")) == 3
    made = store.list_target_executions(execution_id, step_id=1)
    assert [(t.target_ordinal, t.target_database_name) for t in made] == [
        (0, "a"),
        (1, "b"),
        (2, "c"),
    ]
    assert made[0].max_attempts == 3 and made[0].target_server_name == "S1"
    store.create_target_rows(execution_id, 1, targets("x"))
    repeated = store.list_target_executions(execution_id, step_id=1)
    assert [t.target_database_name for t in repeated] == ["a", "b", "c"]
    assert store.get_target_execution(execution_id, 1, 2).target_database_name == "c"
    with pytest.raises(NotFound):
        store.get_target_execution(execution_id, 1, 3)


def test_beginning_a_step_writes_its_rows_and_shows_it_waiting(
    store: SqlJobStore, job: str
) -> None:
    """``begin_step``: the rows and, as in Elastic Jobs, the step and the execution
    ``WaitingForChildJobExecutions`` (a step without targets ``InProgress``), in one go; a
    repeat changes nothing; an execution that ended meanwhile stays ended."""
    waiting = L.WAITING_FOR_CHILD_JOB_EXECUTIONS
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    assert store.begin_step(execution_id, 1, targets("a", "b")) == 2
    execution = store.get_job_execution(execution_id, include_targets=False)
    assert (execution.lifecycle, execution.steps[0].lifecycle) == (waiting, waiting)
    assert store.begin_step(execution_id, 1, targets("x")) == 2
    assert [t.target_database_name for t in store.list_target_executions(execution_id)] == [
        "a",
        "b",
    ]
    assert store.begin_step(execution_id, 2, []) == 0
    execution = store.get_job_execution(execution_id, include_targets=False)
    assert [s.lifecycle for s in execution.steps] == [waiting, L.IN_PROGRESS]

    ended = store.create_job_execution(job).job_execution_id
    store.transition(ended, L.IN_PROGRESS)
    store.end_job_execution(ended, L.CANCELED, "stopped")
    assert store.begin_step(ended, 1, targets("a")) == 1
    execution = store.get_job_execution(ended, include_targets=False)
    assert (execution.lifecycle, execution.steps[0].lifecycle) == (L.CANCELED, L.CANCELED)


def test_target_rows_go_to_the_driver_as_sqlalchemy_would_write_them(
    store: SqlJobStore, job: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite and PostgreSQL get a step's target rows straight (``_insert_many``): the stored
    values are exactly those of SQLAlchemy's own insert, ids, times, flags and NULLs alike."""
    from sqlfleet.store import executions

    specs = [
        TargetSpec(target_type="database", target_id=None, server_name="S1", database_name="a"),
        TargetSpec(
            target_type="elasticPool", target_id="0f4a6a2e-2d3b-4a53-9b7c-1b2c3d4e5f60",
            engine="postgresql", server_name="pg", port=5433, database_name="b",
            elastic_pool_name="pool",
        ),
        TargetSpec(target_type="server", engine="sqlite", server_name="/data", database_name="c"),
    ]  # fmt: skip

    def stored(execution_id: str) -> list[dict[str, Any]]:
        columns = [c for c in E.c if c.name not in ("row_id", "job_execution_id", "instance_id")]
        query = sa.select(*columns).where(
            E.c.job_execution_id == execution_id, E.c.target_ordinal.is_not(None)
        )
        with store._db.read() as connection:
            return [dict(row) for row in connection.execute(query.order_by(E.c.row_id)).mappings()]

    straight = store.create_job_execution(job).job_execution_id
    assert store.create_target_rows(straight, 1, specs) == 3
    monkeypatch.setattr(executions, "_DRIVER_INSERTS", set())
    through = store.create_job_execution(job).job_execution_id
    assert store.create_target_rows(through, 1, specs) == 3
    for one, other in zip(stored(straight), stored(through), strict=True):
        # the test clock moves on between the two inserts: times differ, their form does not
        assert one.pop("create_time").tzinfo == other.pop("create_time").tzinfo == dt.timezone.utc
        assert one == other
    pooled = stored(straight)[1]
    assert str(pooled["target_id"]).replace("-", "") == "0f4a6a2e2d3b4a539b7c1b2c3d4e5f60"
    assert (pooled["target_port"], pooled["is_active"], pooled["max_attempts"]) == (5433, True, 3)


def test_creating_target_rows_answers_the_count_and_never_writes_twice(
    store: SqlJobStore, job: str
) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    assert store.create_target_rows(execution_id, 1, targets("a", "b", "a", "c")) == 3
    assert store.create_target_rows(execution_id, 1, targets("x", "y", "z", "w")) == 3
    rows = store.list_target_executions(execution_id, step_id=1)
    assert [(t.target_ordinal, t.target_database_name) for t in rows] == [
        (0, "a"),
        (1, "b"),
        (2, "c"),
    ]
    with pytest.raises(NotFound):
        store.create_target_rows(execution_id, 9, targets("a"))


def test_a_step_finished_without_its_targets_rolls_them_up_all_the_same(
    store: SqlJobStore, job: str
) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    store.transition(execution_id, L.IN_PROGRESS, step_id=1)
    store.create_target_rows(execution_id, 1, targets("a", "b"))
    with pytest.raises(Conflict, match="2 child execution"):
        store.finish_step(execution_id, 1)
    for ordinal, state in ((0, L.SUCCEEDED), (1, L.FAILED)):
        store.start_target_attempt(execution_id, 1, ordinal, 1)
        store.transition(execution_id, state, step_id=1, ordinal=ordinal)

    # ``continue``: the job goes on after this step, so the execution is left as it is.
    step = store.finish_step(execution_id, 1, on_failure=OnFailure.CONTINUE).step

    assert (step.lifecycle, step.last_message, step.targets) == (
        L.FAILED,
        "1 Failed, 1 Succeeded",
        [],
    )
    light = store.get_job_execution(execution_id, include_targets=False).steps[0]
    assert light.lifecycle == L.FAILED and light.targets == []
    assert len(store.get_job_execution(execution_id).steps[0].targets) == 2
    finished = store.finish_job_execution(execution_id)
    assert finished.lifecycle == L.FAILED and finished.steps[0].targets == []


def test_a_target_lives_through_retries(store: SqlJobStore, job: str, clock: Clock) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.create_target_rows(execution_id, 1, targets("a"))
    first = store.start_target_attempt(execution_id, 1, 0, 1).target
    assert (first.lifecycle, first.current_attempts, first.is_active) == (L.IN_PROGRESS, 1, True)
    repeated = store.start_target_attempt(execution_id, 1, 0, 1)
    assert (repeated.outcome, repeated.target) == (StartOutcome.STARTED, first)
    retry_at = clock.now + dt.timedelta(seconds=30)
    waiting = store.transition(
        execution_id,
        L.WAITING_FOR_RETRY,
        step_id=1,
        ordinal=0,
        message="deadlock",
        next_attempt_start_time=retry_at,
    )
    assert waiting.next_attempt_start_time == retry_at and waiting.last_message == "deadlock"
    second = store.start_target_attempt(execution_id, 1, 0, 2).target
    assert second.current_attempts == 2 and second.next_attempt_start_time is None
    assert second.start_time == first.start_time
    assert second.current_attempt_start_time > first.current_attempt_start_time
    done = store.transition(execution_id, L.FAILED, step_id=1, ordinal=0, message="x" * 10_000)
    assert done.is_active is False and done.end_time is not None
    assert len(done.last_message or "") == 4000
    assert store.transition(execution_id, L.FAILED, step_id=1, ordinal=0) == done
    with pytest.raises(IllegalTransition) as raised:
        store.transition(execution_id, L.IN_PROGRESS, step_id=1, ordinal=0)
    assert (raised.value.current, raised.value.requested) == ("Failed", "InProgress")
    # A start of an ended target (a redelivered activity) finds nothing to run.
    assert store.start_target_attempt(execution_id, 1, 0, 3).outcome is StartOutcome.REDELIVERED
    assert store.get_target_execution(execution_id, 1, 0) == done
    with pytest.raises(ValueError):
        store.transition(execution_id, L.WAITING_FOR_RETRY, step_id=1, ordinal=0)


def test_steps_and_job_roll_up(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    store.transition(execution_id, L.IN_PROGRESS, step_id=1)
    store.create_target_rows(execution_id, 1, targets("a", "b"))
    with pytest.raises(Conflict, match="still active"):
        store.finish_step(execution_id, 1)
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.transition(execution_id, L.SUCCEEDED, step_id=1, ordinal=0)
    store.transition(execution_id, L.SKIPPED, step_id=1, ordinal=1, message="running elsewhere")
    step = store.finish_step(execution_id, 1).step
    assert step.lifecycle == L.SUCCEEDED_WITH_SKIPPED
    rows = store.get_job_execution(execution_id).steps[0].targets
    assert step.last_message == "1 Skipped, 1 Succeeded" and len(rows) == 2
    assert step.current_attempts == 1
    finished = store.finish_job_execution(execution_id)
    assert finished.lifecycle == L.SUCCEEDED_WITH_SKIPPED and finished.is_active is False
    assert finished.steps[1].lifecycle == L.SKIPPED
    assert finished.steps[1].last_message == "not run: an earlier step ended the job"


def test_cancel_marks_everything_unfinished(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.create_target_rows(execution_id, 1, targets("a", "b", "c"))
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.transition(execution_id, L.SUCCEEDED, step_id=1, ordinal=0)
    assert store.cancel_targets(execution_id, 1, [1, 0], message="stopping") == 1
    assert store.get_target_execution(execution_id, 1, 0).lifecycle == L.SUCCEEDED
    assert store.request_cancel(execution_id).cancel_requested is True
    store.end_job_execution(execution_id, L.CANCELED, "canceled")
    canceled = store.get_job_execution(execution_id)
    assert canceled.lifecycle == L.CANCELED and canceled.cancel_requested
    states = [t.lifecycle for t in canceled.steps[0].targets]
    assert states == [L.SUCCEEDED, L.CANCELED, L.CANCELED]
    assert {s.lifecycle for s in canceled.steps} == {L.CANCELED}


def test_a_step_with_active_targets_ends_only_by_a_failure_and_then_ends_its_execution(
    store: SqlJobStore, job: str
) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    store.transition(execution_id, L.IN_PROGRESS, step_id=1)
    store.create_target_rows(execution_id, 1, targets("a", "b", "c"))
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.finish_target_attempt(execution_id, 1, 0, 1, L.SUCCEEDED)
    store.start_target_attempt(execution_id, 1, 1, 1)
    with pytest.raises(TargetsStillActive) as raised:  # retry lanes still hold them
        store.finish_step(execution_id, 1, last=True)
    assert (raised.value.step_id, raised.value.active) == (1, 2)
    assert store.get_job_execution(execution_id).steps[0].lifecycle == L.IN_PROGRESS

    finished = store.finish_step(
        execution_id, 1, error="batch 1 failed", execution_message="step 1 failed"
    )

    assert (finished.step.lifecycle, finished.step.last_message) == (L.FAILED, "batch 1 failed")
    assert finished.targets == {"Succeeded": 1, "Failed": 2}
    assert (finished.stop, finished.step_ended, finished.execution_ended) == (True, True, True)
    execution = finished.execution
    assert execution is not None
    assert (execution.lifecycle, execution.last_message) == (L.FAILED, "step 1 failed")
    assert [(s.lifecycle, s.last_message) for s in execution.steps] == [
        (L.FAILED, "batch 1 failed"),
        (L.SKIPPED, "not run: an earlier step ended the job"),
    ]
    assert store.get_job_execution(execution_id, include_targets=False) == execution
    rows = store.list_target_executions(execution_id, step_id=1)
    assert [(t.lifecycle, t.last_message, t.is_active) for t in rows[1:]] == [
        (L.FAILED, "batch 1 failed", False)
    ] * 2
    # A redelivered activity finds everything ended and answers the same.
    again = store.finish_step(execution_id, 1, error="batch 1 failed")
    assert (again.step, again.execution, again.stop) == (finished.step, execution, True)
    assert (again.step_ended, again.execution_ended) == (False, False)


def test_a_cancel_ends_the_step_and_the_execution_whatever_on_failure_says(
    store: SqlJobStore, job: str
) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.create_target_rows(execution_id, 1, targets("a", "b"))
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.request_cancel(execution_id)
    finished = store.finish_step(
        execution_id, 1, error="batch 1 failed", on_failure=OnFailure.CONTINUE
    )
    assert (finished.step.lifecycle, finished.targets, finished.stop) == (
        L.CANCELED,
        {"Canceled": 2},
        True,
    )
    assert finished.step.last_message == "batch 1 failed"
    rows = store.list_target_executions(execution_id, step_id=1)
    assert [(t.lifecycle, t.last_message) for t in rows] == [(L.CANCELED, "canceled")] * 2
    assert finished.execution is not None and finished.execution.lifecycle == L.CANCELED
    assert [s.lifecycle for s in finished.execution.steps] == [L.CANCELED, L.SKIPPED]
    # A step of a cancelled execution that has no targets ends Canceled too.
    empty = store.create_job_execution(job).job_execution_id
    store.request_cancel(empty)
    nothing = store.finish_step(empty, 1)
    assert (nothing.step.lifecycle, nothing.step.last_message, nothing.targets) == (
        L.CANCELED,
        None,
        {},
    )


def test_a_failed_step_stops_the_job_as_on_failure_says(store: SqlJobStore, job: str) -> None:
    ids = []
    for on_failure in (OnFailure.CONTINUE, None):
        execution_id = store.create_job_execution(job).job_execution_id
        store.create_target_rows(execution_id, 1, targets("a"))
        store.start_target_attempt(execution_id, 1, 0, 1)
        store.finish_target_attempt(execution_id, 1, 0, 1, L.TIMED_OUT)
        finished = store.finish_step(execution_id, 1, on_failure=on_failure)
        assert (finished.step.lifecycle, finished.step.last_message) == (L.TIMED_OUT, "1 TimedOut")
        ids.append((execution_id, finished))
    (going, goes_on), (stopped, stops) = ids
    # ``continue``: the job goes on, the execution stays as it is; None: its version says fail.
    assert (goes_on.stop, goes_on.execution) == (False, None)
    assert store.get_job_execution(going).is_active
    assert stops.stop and stops.execution is not None and not stops.execution.is_active
    # The last step ends the execution whatever it ended.
    store.transition(going, L.SUCCEEDED, step_id=2)
    last = store.finish_step(going, 2, last=True, execution_message=None)
    assert last.execution is not None and last.execution.lifecycle == L.TIMED_OUT
    assert last.execution.last_message == "1 Succeeded, 1 TimedOut"
    with pytest.raises(NotFound):
        store.finish_step(going, 9)


@pytest.mark.parametrize("lifecycle", [L.CANCELED, L.FAILED])
def test_end_execution_ends_every_unfinished_row_once(
    store: SqlJobStore, job: str, lifecycle: Lifecycle
) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    store.transition(execution_id, L.IN_PROGRESS, step_id=1)
    store.create_target_rows(execution_id, 1, targets("a", "b", "c", "d"))
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.transition(execution_id, L.SUCCEEDED, step_id=1, ordinal=0)
    store.start_target_attempt(execution_id, 1, 1, 1)
    store.start_target_attempt(execution_id, 1, 2, 1)
    later = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    store.transition(
        execution_id, L.WAITING_FOR_RETRY, step_id=1, ordinal=2, next_attempt_start_time=later
    )

    message = "the orchestration x was terminated: why"
    ended = store.end_job_execution(execution_id, lifecycle, message)
    assert (ended.lifecycle, ended.is_active, ended.last_message) == (lifecycle, False, message)
    assert ended.cancel_requested and ended.end_time is not None
    assert len(ended.steps) == 2 and all(not s.targets for s in ended.steps)
    full = store.get_job_execution(execution_id)
    assert [(s.lifecycle, s.last_message) for s in full.steps] == [(lifecycle, message)] * 2
    states = [(t.lifecycle, t.is_active, t.next_attempt_start_time) for t in full.steps[0].targets]
    assert states == [(L.SUCCEEDED, False, None)] + [(lifecycle, False, None)] * 3
    assert full.steps[0].targets[0].last_message != message

    # An execution that ended stays as it ended, whatever is asked later.
    again = store.end_job_execution(execution_id, L.FAILED, "something else")
    assert (again.lifecycle, again.last_message) == (lifecycle, message)


def test_end_execution_leaves_a_finished_execution_and_takes_two_lifecycles(
    store: SqlJobStore, job: str
) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    for step_id in (1, 2):
        store.transition(execution_id, L.SUCCEEDED, step_id=step_id)
    finished = store.finish_job_execution(execution_id)
    ended = store.end_job_execution(execution_id, L.CANCELED, "too late")
    assert ended.lifecycle == finished.lifecycle == L.SUCCEEDED
    assert ended.last_message == finished.last_message and not ended.cancel_requested
    with pytest.raises(ValueError, match="Canceled or Failed"):
        store.end_job_execution(execution_id, L.SUCCEEDED, "no")
    with pytest.raises(NotFound):
        store.end_job_execution("8c5e2f0e-0000-4000-8000-000000000000", L.CANCELED, "none")


def test_messages_and_results_are_bounded_and_replaced(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.create_target_rows(execution_id, 1, targets("a", "b"))
    rows = [(i, f"name {i}", dt.date(2025, 1, 2), b"\x00\x01") for i in range(MAX_RESULT_ROWS + 5)]
    result = ResultSet.bounded([("n", "int"), ("s", "str"), ("d", "date"), ("b", "bytes")], rows)
    assert result.truncated and result.row_count == MAX_RESULT_ROWS
    small = ResultSet.bounded([("n", "int")], [(1,), (None,)])
    retry_at = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.finish_target_attempt(
        execution_id, 1, 0, 1, L.WAITING_FOR_RETRY, messages=["first try"], result=result,
        next_attempt_start_time=retry_at,
    )  # fmt: skip
    store.start_target_attempt(execution_id, 1, 0, 2)
    for _ in range(2):  # a repeated end (a redelivered activity) replaces what it kept
        store.finish_target_attempt(
            execution_id, 1, 0, 2, L.FAILED, messages=["hello", "ünïcode ✓", "m" * 5000],
            result=small,
        )  # fmt: skip
    output = store.get_target_output(execution_id, 1, 0)
    assert [(m.attempt, m.sequence) for m in output.messages] == [(1, 0), (2, 0), (2, 1), (2, 2)]
    assert output.messages[2].message == "ünïcode ✓"
    assert len(output.messages[3].message) == 4000
    assert output.result == small and output.result.rows == [[1], [None]]
    many = [f"line {i}" for i in range(MAX_MESSAGES_PER_ATTEMPT + 10)]
    store.start_target_attempt(execution_id, 1, 1, 1)
    store.finish_target_attempt(execution_id, 1, 1, 1, L.FAILED, messages=many)
    kept = [m for m in store.get_target_output(execution_id, 1, 1).messages if m.attempt == 1]
    assert len(kept) == MAX_MESSAGES_PER_ATTEMPT and kept[-1].message.startswith("... 11 more")


def test_result_values_become_json(store: SqlJobStore) -> None:
    import decimal
    import uuid

    value = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
    result = ResultSet.bounded(
        [("a", "x")],
        [(decimal.Decimal("1.50"),), (value,), (float("nan"),), ("x" * 5000,), (True,)],
    )
    assert result.rows[:3] == [["1.50"], [str(value)], ["nan"]]
    assert len(result.rows[3][0]) == 4000 and result.truncated and result.rows[4] == [True]


def test_listing_pages_and_filters(store: SqlJobStore, job: str, clock: Clock) -> None:
    ids = [store.create_job_execution(job).job_execution_id for _ in range(5)]
    store.end_job_execution(ids[0], L.CANCELED, "canceled")
    page = store.list_job_executions(top=2)
    assert [e.job_execution_id for e in page.items] == [ids[4], ids[3]]
    page2 = store.list_job_executions(top=2, continuation=page.continuation)
    page3 = store.list_job_executions(top=2, continuation=page2.continuation)
    assert [e.job_execution_id for e in page2.items + page3.items] == [ids[2], ids[1], ids[0]]
    assert page3.continuation is None
    assert [e.job_execution_id for e in store.list_job_executions(active=False).items] == [ids[0]]
    assert len(store.list_job_executions(active=True, job_name="j").items) == 4
    assert store.list_job_executions(job_name="other").items == []
    middle = store.get_job_execution(ids[2]).create_time
    window = store.list_job_executions(create_time_min=middle, create_time_max=middle)
    assert [e.job_execution_id for e in window.items] == [ids[2]]
    assert [e.job_execution_id for e in store.list_job_executions(lifecycle=L.CANCELED).items] == [
        ids[0]
    ]
    with pytest.raises(BadRequest) as raised:
        store.list_job_executions(continuation="garbage")
    assert raised.value.field == "continuation"
    with pytest.raises(BadRequest):
        store.list_job_executions(top=0)


def test_get_filters_targets_by_lifecycle(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.create_target_rows(execution_id, 1, targets("a", "b"))
    store.start_target_attempt(execution_id, 1, 1, 1)
    store.transition(execution_id, L.FAILED, step_id=1, ordinal=1)
    failed = store.get_job_execution(execution_id, lifecycle=L.FAILED)
    assert [s.step_id for s in failed.steps] == [1]
    assert [t.target_database_name for t in failed.steps[0].targets] == ["b"]
    assert len(store.get_job_execution(execution_id).steps[0].targets) == 2
    assert store.get_job_execution(execution_id, include_targets=False).steps[0].targets == []
    listed = store.list_target_executions(execution_id, step_id=1, active=True)
    assert [t.target_ordinal for t in listed] == [0]
    with pytest.raises(NotFound):
        store.get_job_execution("not-a-uuid")


def test_same_step_on_same_database_elsewhere_is_found(store: SqlJobStore, job: str) -> None:
    first, second, third = (store.create_job_execution(job).job_execution_id for _ in range(3))
    for execution_id in (first, second, third):
        store.create_target_rows(execution_id, 1, targets("a", "b"))
    store.start_target_attempt(first, 1, 0, 1)
    skipped = store.start_target_attempt(second, 1, 0, 1)
    assert skipped.concurrent_execution_id == first
    assert (skipped.outcome, skipped.target.lifecycle) == (StartOutcome.SKIPPED, L.SKIPPED)
    assert store.start_target_attempt(second, 1, 1, 1).concurrent_execution_id is None
    store.transition(first, L.SUCCEEDED, step_id=1, ordinal=0)
    assert store.start_target_attempt(third, 1, 0, 1).concurrent_execution_id is None


def test_purge_removes_old_finished_history_only(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    old = store.create_job_execution(job).job_execution_id
    store.create_target_rows(old, 1, targets("a"))
    store.start_target_attempt(old, 1, 0, 1)
    store.finish_target_attempt(
        old, 1, 0, 1, L.FAILED, messages=["m"], result=ResultSet.bounded([("n", "int")], [(1,)])
    )
    store.end_job_execution(old, L.CANCELED, "canceled")
    running = store.create_job_execution(job).job_execution_id
    cutoff = clock.now + dt.timedelta(seconds=1)
    clock.now += dt.timedelta(days=1)
    recent = store.create_job_execution(job).job_execution_id
    store.end_job_execution(recent, L.CANCELED, "canceled")
    assert store.purge_history(cutoff) == [old]
    remaining = {e.job_execution_id for e in store.list_job_executions().items}
    assert remaining == {running, recent}
    with pytest.raises(NotFound):
        store.get_target_output(old, 1, 0)
    assert store.purge_history(cutoff, job_name="other") == []


def test_lifecycle_strings_are_accepted(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    row: Any = store.transition(execution_id, "InProgress")  # type: ignore[arg-type]
    assert row.lifecycle == L.IN_PROGRESS and row.start_time is not None


def test_purge_one_execution(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.create_target_rows(execution_id, 1, targets("a"))
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.finish_target_attempt(execution_id, 1, 0, 1, L.FAILED, messages=["m"])
    with pytest.raises(Conflict, match="still active"):
        store.purge_execution(execution_id)
    store.end_job_execution(execution_id, L.CANCELED, "canceled")
    store.purge_execution(execution_id)
    with pytest.raises(NotFound):
        store.get_job_execution(execution_id)
    with pytest.raises(NotFound):
        store.purge_execution(execution_id)


def test_every_result_is_kept_read_and_purged(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.create_target_rows(execution_id, 1, targets("a"))
    store.start_target_attempt(execution_id, 1, 0, 1)
    more = ResultSet.bounded([("n", "int")], [(2,)])
    detail = TargetDetail(
        result_sets=[more],
        affected_rows=[3],
        message_details=[MessageDetail(sequence=0, severity="NOTICE")],
        error=ErrorDetail(message="boom", sqlstate="42P01", line=2, error_class="permanent"),
    )
    store.finish_target_attempt(
        execution_id, 1, 0, 1, L.FAILED, message="boom",
        result=ResultSet.bounded([("m", "int")], [(1,)]), messages=["NOTICE: hi"], detail=detail,
    )  # fmt: skip
    output = store.get_target_output(execution_id, 1, 0)
    assert [r.rows for r in output.result_sets] == [[[1]], [[2]]]
    assert output.affected_rows == [3] and output.message_details[0].severity == "NOTICE"
    assert output.error is not None and (output.error.sqlstate, output.error.line) == ("42P01", 2)
    received = store.receive_target_outputs(execution_id)
    assert [item.target.target_ordinal for item in received.items] == [0]
    assert store.receive_target_outputs(execution_id).items == []
    store.end_job_execution(execution_id, L.CANCELED, "canceled")
    store.purge_execution(execution_id)
    with store._db.read() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(target_outcomes)).scalar()
            == 0
        )
