"""``turn_target_chunk``: the first attempts of a chunk of targets in turns, one transaction
each, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from sqlfleet.errors import NotFound
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import ResultSet, TargetSpec
from sqlfleet.models.executions import MAX_MESSAGES_PER_ATTEMPT
from sqlfleet.store import AttemptEnd, SqlJobStore
from tests.support.clocks import Clock

L = Lifecycle


def execution(store: SqlJobStore, job: str, count: int, server: str = "S1") -> str:
    execution_id = store.create_job_execution(job).job_execution_id
    specs = [
        TargetSpec(target_type="database", server_name=server, database_name=f"db{index}")
        for index in range(count)
    ]
    store.create_target_rows(execution_id, 1, specs)
    return execution_id


def at(seconds: int) -> dt.datetime:
    return dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)


def lifecycles(store: SqlJobStore, execution_id: str) -> list[Lifecycle]:
    return [t.lifecycle for t in store.list_target_executions(execution_id, step_id=1)]


def test_a_turn_starts_its_targets_and_the_next_records_their_ends_with_their_own_times(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    execution_id = execution(store, job, 4)
    created = store.get_job_execution(execution_id, include_targets=False).create_time

    first = store.turn_target_chunk(execution_id, 1, [], [0, 1])

    assert [t.ordinal for t in first.started] == [0, 1]
    assert (first.started[0].target.server, first.started[0].target.database) == ("S1", "db0")
    assert (first.started[0].job_name, first.started[0].job_version) == ("j", 1)
    assert (first.recorded, first.canceled, first.waiting) == ([], False, {})
    assert first.execution_create_time == created
    assert lifecycles(store, execution_id) == [L.IN_PROGRESS, L.IN_PROGRESS, L.CREATED, L.CREATED]
    started_row = store.get_target_execution(execution_id, 1, 1)
    assert started_row.current_attempts == 1 and started_row.is_active

    result = ResultSet.bounded([("n", "int")], [[1]])
    ends = [
        AttemptEnd(0, L.SUCCEEDED, at(1), at(2), message="ok", result=result, messages=["hi"]),
        AttemptEnd(1, L.FAILED, at(2), at(3), message="boom"),
    ]
    second = store.turn_target_chunk(execution_id, 1, ends, [2, 3])

    assert second.recorded == [0, 1]
    assert [t.ordinal for t in second.started] == [2, 3]
    done = store.get_target_execution(execution_id, 1, 0)
    assert (done.lifecycle, done.last_message, done.is_active) == (L.SUCCEEDED, "ok", False)
    assert (done.start_time, done.current_attempt_start_time, done.end_time) == (
        at(1),
        at(1),
        at(2),
    )
    output = store.get_target_output(execution_id, 1, 0)
    assert output.result is not None and output.result.rows == [[1]]
    assert [m.message for m in output.messages] == ["hi"]
    failed = store.get_target_execution(execution_id, 1, 1)
    assert (failed.lifecycle, failed.last_message, failed.end_time) == (L.FAILED, "boom", at(3))
    assert store.get_target_output(execution_id, 1, 1).result is None

    last = store.turn_target_chunk(
        execution_id,
        1,
        [AttemptEnd(2, L.SUCCEEDED, at(4), at(5)), AttemptEnd(3, L.SUCCEEDED, at(5), at(6))],
        [],
    )
    assert (last.started, last.recorded) == ([], [2, 3])
    assert lifecycles(store, execution_id) == [L.SUCCEEDED, L.FAILED, L.SUCCEEDED, L.SUCCEEDED]


def test_a_repeated_turn_changes_nothing_and_runs_the_targets_still_in_progress_again(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    execution_id = execution(store, job, 3)
    store.turn_target_chunk(execution_id, 1, [], [0, 1, 2])
    ends = [AttemptEnd(0, L.SUCCEEDED, at(1), at(2)), AttemptEnd(1, L.SUCCEEDED, at(2), at(3))]
    assert store.turn_target_chunk(execution_id, 1, ends, []).recorded == [0, 1]
    before = store.list_target_executions(execution_id, step_id=1)

    # A redelivered activity starts its chunk again: the ended targets stay as they are, the
    # one in progress runs again, and ends that were recorded are not recorded twice.
    again = store.turn_target_chunk(execution_id, 1, ends, [0, 1, 2])

    assert again.recorded == []
    assert [t.ordinal for t in again.started] == [2]
    assert store.list_target_executions(execution_id, step_id=1) == before


def test_a_waiting_end_needs_its_time_and_is_named_when_its_chunk_starts_again(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    execution_id = execution(store, job, 2)
    store.turn_target_chunk(execution_id, 1, [], [0, 1])
    with pytest.raises(ValueError, match="next_attempt_start_time"):
        store.turn_target_chunk(
            execution_id, 1, [AttemptEnd(0, L.WAITING_FOR_RETRY, at(1), at(2))], []
        )
    assert lifecycles(store, execution_id) == [L.IN_PROGRESS, L.IN_PROGRESS]  # rolled back

    waiting = AttemptEnd(
        0, L.WAITING_FOR_RETRY, at(1), at(2), "again", next_attempt_start_time=at(9)
    )
    store.turn_target_chunk(execution_id, 1, [waiting], [])
    row = store.get_target_execution(execution_id, 1, 0)
    assert (row.lifecycle, row.is_active, row.next_attempt_start_time) == (
        L.WAITING_FOR_RETRY,
        True,
        at(9),
    )
    assert row.end_time is None

    again = store.turn_target_chunk(execution_id, 1, [], [0, 1])
    assert again.waiting == {0: at(9)}
    assert [t.ordinal for t in again.started] == [1]


def test_a_turn_of_a_cancelled_execution_cancels_what_it_was_to_start(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    execution_id = execution(store, job, 4)
    store.turn_target_chunk(execution_id, 1, [], [0])
    store.request_cancel(execution_id)

    turn = store.turn_target_chunk(
        execution_id, 1, [AttemptEnd(0, L.SUCCEEDED, at(1), at(2))], [1, 2]
    )

    assert (turn.canceled, turn.started, turn.recorded) == (True, [], [0])
    assert lifecycles(store, execution_id) == [L.SUCCEEDED, L.CANCELED, L.CANCELED, L.CREATED]
    # A target cancelled while its script ran keeps its row.
    assert (
        store.turn_target_chunk(
            execution_id, 1, [AttemptEnd(1, L.SUCCEEDED, at(3), at(4))], []
        ).recorded
        == []
    )
    assert store.get_target_execution(execution_id, 1, 1).lifecycle == L.CANCELED


def test_a_script_stopped_by_a_cancel_ends_canceled(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    execution_id = execution(store, job, 1)
    store.turn_target_chunk(execution_id, 1, [], [0])

    end = AttemptEnd(0, L.CANCELED, at(1), at(2), message="the script was cancelled")
    assert store.turn_target_chunk(execution_id, 1, [end], []).recorded == [0]

    row = store.get_target_execution(execution_id, 1, 0)
    assert (row.lifecycle, row.last_message, row.is_active) == (
        L.CANCELED,
        "the script was cancelled",
        False,
    )


def test_a_database_another_execution_runs_this_step_on_is_skipped(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    running = execution(store, job, 3)
    store.turn_target_chunk(running, 1, [], [1])  # db1 is in progress there
    other = execution(store, job, 3)
    elsewhere = execution(store, job, 3, server="S2")

    turn = store.turn_target_chunk(other, 1, [], [0, 1, 2])

    assert [t.ordinal for t in turn.started] == [0, 2]
    skipped = store.get_target_execution(other, 1, 1)
    assert skipped.lifecycle == L.SKIPPED
    assert running in (skipped.last_message or "")
    # The same database name on another server is another database.
    assert [t.ordinal for t in store.turn_target_chunk(elsewhere, 1, [], [1]).started] == [1]


def test_a_server_another_execution_runs_this_step_on_is_skipped_too(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    def on_servers(*servers: str) -> str:
        execution_id = store.create_job_execution(job).job_execution_id
        specs = [TargetSpec(target_type="server", server_name=server) for server in servers]
        store.create_target_rows(execution_id, 1, specs)
        return execution_id

    running = on_servers("S1")
    store.turn_target_chunk(running, 1, [], [0])
    other = on_servers("S1", "S2")

    turn = store.turn_target_chunk(other, 1, [], [0, 1])

    assert [(t.ordinal, t.target.server) for t in turn.started] == [(1, "S2")]
    assert [(t.job_name, t.job_version) for t in turn.started] == [("j", 1)]
    skipped = store.get_target_execution(other, 1, 0)
    assert skipped.lifecycle == L.SKIPPED and running in (skipped.last_message or "")


def test_messages_are_bounded_and_a_missing_target_is_not_found(
    store: SqlJobStore, job: str, clock: Clock
) -> None:
    execution_id = execution(store, job, 1)
    store.turn_target_chunk(execution_id, 1, [], [0])
    many = [f"line {n}" for n in range(MAX_MESSAGES_PER_ATTEMPT + 5)]
    store.turn_target_chunk(
        execution_id, 1, [AttemptEnd(0, L.SUCCEEDED, at(1), at(2), messages=many)], []
    )
    kept = store.get_target_output(execution_id, 1, 0).messages
    assert len(kept) == MAX_MESSAGES_PER_ATTEMPT
    assert kept[-1].message == "... 6 more message(s) not kept"

    with pytest.raises(NotFound):
        store.turn_target_chunk(execution_id, 1, [], [0, 7])
