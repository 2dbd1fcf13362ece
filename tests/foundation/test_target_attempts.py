"""``start_target_attempt`` and ``finish_target_attempt``: one target attempt in two
transactions, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Connection

from sqlfleet.errors import IllegalTransition, NotFound
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import ResultSet, TargetSpec
from sqlfleet.models.executions import MAX_MESSAGES_PER_ATTEMPT
from sqlfleet.store import SqlJobStore, StartOutcome
from sqlfleet.store.rows import E, uuid_text
from tests.support.clocks import Clock
from tests.support.servers import wait_until

L = Lifecycle


def execution_with_targets(store: SqlJobStore, job: str, *databases: str) -> str:
    execution_id = store.create_job_execution(job).job_execution_id
    store.create_target_rows(
        execution_id,
        1,
        [TargetSpec(target_type="database", server_name="S1", database_name=d) for d in databases],
    )
    return execution_id


def test_start_moves_the_target_in_progress_once(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    execution_id = execution_with_targets(store, job, "a")
    created = store.get_job_execution(execution_id, include_targets=False).create_time

    start = store.start_target_attempt(execution_id, 1, 0, 1)

    assert start.outcome is StartOutcome.STARTED
    assert (start.target.lifecycle, start.target.current_attempts) == (L.IN_PROGRESS, 1)
    assert start.target.start_time == start.target.current_attempt_start_time == clock.now
    assert start.execution_create_time == created
    assert start.concurrent_execution_id is None
    assert store.get_target_execution(execution_id, 1, 0) == start.target
    again = store.start_target_attempt(execution_id, 1, 0, 1)
    assert (again.outcome, again.target) == (StartOutcome.STARTED, start.target)


def test_a_redelivered_start_runs_nothing(store: SqlJobStore, job: str, clock: Clock) -> None:
    execution_id = execution_with_targets(store, job, "a", "b")
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.finish_target_attempt(execution_id, 1, 0, 1, L.SUCCEEDED, message="done")
    store.start_target_attempt(execution_id, 1, 1, 1)
    retry_at = clock.now + dt.timedelta(seconds=30)
    store.finish_target_attempt(
        execution_id, 1, 1, 1, L.WAITING_FOR_RETRY, message="e", next_attempt_start_time=retry_at
    )

    ended = store.start_target_attempt(execution_id, 1, 0, 1)
    waiting = store.start_target_attempt(execution_id, 1, 1, 1)
    retried = store.start_target_attempt(execution_id, 1, 1, 2)

    assert (ended.outcome, ended.target.lifecycle) == (StartOutcome.REDELIVERED, L.SUCCEEDED)
    assert (waiting.outcome, waiting.target.lifecycle) == (
        StartOutcome.REDELIVERED,
        L.WAITING_FOR_RETRY,
    )
    assert (retried.outcome, retried.target.current_attempts) == (StartOutcome.STARTED, 2)
    assert retried.target.start_time < retried.target.current_attempt_start_time


def test_start_after_a_cancel_request_cancels_the_target(store: SqlJobStore, job: str) -> None:
    execution_id = execution_with_targets(store, job, "a")
    store.request_cancel(execution_id)

    start = store.start_target_attempt(execution_id, 1, 0, 1)

    assert start.outcome is StartOutcome.CANCELED
    assert (start.target.lifecycle, start.target.is_active) == (L.CANCELED, False)
    assert store.get_target_execution(execution_id, 1, 0).lifecycle == L.CANCELED


def test_first_start_is_skipped_while_another_execution_runs_the_database(
    store: SqlJobStore, job: str
) -> None:
    running = execution_with_targets(store, job, "a")
    store.start_target_attempt(running, 1, 0, 1)
    later = execution_with_targets(store, job, "a", "b")

    skipped = store.start_target_attempt(later, 1, 0, 1)
    other = store.start_target_attempt(later, 1, 1, 1)

    assert skipped.outcome is StartOutcome.SKIPPED
    assert skipped.concurrent_execution_id == running
    assert skipped.target.lifecycle == L.SKIPPED
    assert skipped.target.last_message == (
        f"skipped: execution {running} is running this job step on this target"
    )
    assert other.outcome is StartOutcome.STARTED


def test_a_later_attempt_restarts_a_target_left_in_progress(store: SqlJobStore, job: str) -> None:
    execution_id = execution_with_targets(store, job, "a")
    first = store.start_target_attempt(execution_id, 1, 0, 1)

    second = store.start_target_attempt(execution_id, 1, 0, 2)

    assert (second.outcome, second.target.current_attempts) == (StartOutcome.STARTED, 2)
    assert second.target.start_time == first.target.start_time
    with pytest.raises(NotFound):
        store.start_target_attempt(execution_id, 1, 5, 1)


def test_finish_keeps_messages_result_and_state_together(store: SqlJobStore, job: str) -> None:
    execution_id = execution_with_targets(store, job, "a")
    store.start_target_attempt(execution_id, 1, 0, 1)
    result = ResultSet.bounded([("n", "integer")], [[1], [2]])
    many = [f"m{i}" for i in range(MAX_MESSAGES_PER_ATTEMPT + 5)]

    done = store.finish_target_attempt(
        execution_id, 1, 0, 1, L.SUCCEEDED, message="ok", result=result, messages=many
    )

    assert (done.lifecycle, done.is_active, done.last_message) == (L.SUCCEEDED, False, "ok")
    assert done.end_time is not None
    output = store.get_target_output(execution_id, 1, 0)
    assert output.result == result
    assert len(output.messages) == MAX_MESSAGES_PER_ATTEMPT
    assert output.messages[0].message == "m0"
    assert output.messages[-1].message == "... 6 more message(s) not kept"
    again = store.finish_target_attempt(execution_id, 1, 0, 1, L.SUCCEEDED, message="ok")
    assert again == done
    with pytest.raises(IllegalTransition):
        store.finish_target_attempt(execution_id, 1, 0, 1, L.FAILED, message="late")


def test_finish_waiting_for_retry_needs_its_time(store: SqlJobStore, job: str) -> None:
    execution_id = execution_with_targets(store, job, "a")
    store.start_target_attempt(execution_id, 1, 0, 1)
    with pytest.raises(ValueError, match="next_attempt_start_time"):
        store.finish_target_attempt(execution_id, 1, 0, 1, L.WAITING_FOR_RETRY)
    assert store.get_target_execution(execution_id, 1, 0).lifecycle == L.IN_PROGRESS


def test_finishing_waiting_for_retry_again_changes_nothing(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    execution_id = execution_with_targets(store, job, "a")
    store.start_target_attempt(execution_id, 1, 0, 1)
    retry_at = clock.now + dt.timedelta(seconds=30)
    first = store.finish_target_attempt(
        execution_id, 1, 0, 1, L.WAITING_FOR_RETRY, message="e", next_attempt_start_time=retry_at
    )

    again = store.finish_target_attempt(
        execution_id,
        1,
        0,
        1,
        L.WAITING_FOR_RETRY,
        message="other",
        next_attempt_start_time=retry_at + dt.timedelta(seconds=9),
    )

    assert again == first == store.get_target_execution(execution_id, 1, 0)
    assert (again.lifecycle, again.last_message, again.next_attempt_start_time) == (
        L.WAITING_FOR_RETRY,
        "e",
        retry_at,
    )


def test_finish_canceled_leaves_an_ended_target_alone(store: SqlJobStore, job: str) -> None:
    execution_id = execution_with_targets(store, job, "a", "b")
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.start_target_attempt(execution_id, 1, 1, 1)
    store.finish_target_attempt(execution_id, 1, 1, 1, L.FAILED, message="boom")

    canceled = store.finish_target_attempt(execution_id, 1, 0, 1, L.CANCELED, message="stop")
    failed = store.finish_target_attempt(execution_id, 1, 1, 1, L.CANCELED, message="stop")

    assert (canceled.lifecycle, canceled.last_message) == (L.CANCELED, "stop")
    assert (failed.lifecycle, failed.last_message) == (L.FAILED, "boom")


def test_attempts_of_many_threads_at_once_each_get_their_own_answer(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    """On SQLite they share transactions (group commit); a start that fails (an ordinal that
    does not exist) must fail alone, and every other start and end must land."""
    databases = [f"d{index}" for index in range(40)]
    execution_id = execution_with_targets(store, job, *databases)

    def attempt(ordinal: int) -> L:
        start = store.start_target_attempt(execution_id, 1, ordinal, 1)
        assert start.outcome is StartOutcome.STARTED
        return store.finish_target_attempt(execution_id, 1, ordinal, 1, L.SUCCEEDED).lifecycle

    with ThreadPoolExecutor(16) as pool:
        ends = [pool.submit(attempt, ordinal) for ordinal in range(len(databases))]
        missing = [pool.submit(attempt, len(databases) + n) for n in range(3)]
        assert [end.result(timeout=60) for end in ends] == [L.SUCCEEDED] * len(databases)
        for future in missing:
            with pytest.raises(NotFound):
                future.result(timeout=60)
    targets = store.list_target_executions(execution_id, step_id=1)
    assert {(t.lifecycle, t.current_attempts) for t in targets} == {(L.SUCCEEDED, 1)}


def test_a_work_that_fails_in_a_shared_write_transaction_fails_alone(
    store: SqlJobStore, backend: str, job: str
) -> None:
    if backend != "sqlite":
        pytest.skip("only SQLite shares write transactions between threads")
    execution_id = execution_with_targets(store, job, "kept", "lost")
    database = store._db
    leading, go_on = threading.Event(), threading.Event()
    answers: dict[str, object] = {}

    def note(ordinal: int, text: str) -> Callable[[Connection], str]:
        def work(connection: Connection) -> str:
            connection.execute(
                E.update()
                .where(
                    E.c.job_execution_id == uuid_text(execution_id), E.c.target_ordinal == ordinal
                )
                .values(last_message=text)
            )
            if text == "lost":
                raise ValueError("this work fails after writing")
            return text

        return work

    def lead(connection: Connection) -> str:
        leading.set()
        go_on.wait(30)
        return "leader"

    def run(name: str, work: Callable[[Connection], str]) -> None:
        try:
            answers[name] = database.write_shared("test", name, work)
        except ValueError as error:
            answers[name] = error

    threads = [threading.Thread(target=run, args=("leader", lead))]
    threads[0].start()
    assert leading.wait(30)
    # Queued behind the leader, these two share the next transaction.
    threads += [
        threading.Thread(target=run, args=(text, note(ordinal, text)))
        for ordinal, text in enumerate(["kept", "lost"])
    ]
    for thread in threads[1:]:
        thread.start()
    queue = database._shared._queue  # type: ignore[union-attr]
    wait_until(lambda: len(queue) == 2, timeout=30, message="the two works to queue")
    go_on.set()
    for thread in threads:
        thread.join(30)

    assert answers["leader"] == "leader" and answers["kept"] == "kept"
    assert isinstance(answers["lost"], ValueError)
    messages = [t.last_message for t in store.list_target_executions(execution_id, step_id=1)]
    assert messages == ["kept", None]
