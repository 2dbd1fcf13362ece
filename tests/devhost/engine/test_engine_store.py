"""The SQLite task hub store on its own: the same class on ':memory:' and on a WAL file."""

from __future__ import annotations

import pytest

from devhost import history as h
from devhost.hubstore import InstanceChanged
from devhost.store import SqliteTaskHubStore
from devhost.taskhub import InstanceExists, InstanceQuery, RuntimeStatus
from devhost.workitems import Delivery, EpisodeCommit, NewInstance
from tests.devhost.engine.conftest import START


def _new(instance_id: str, execution_id: str = "e1") -> NewInstance:
    started = h.execution_started(
        START,
        instance_id=instance_id,
        execution_id=execution_id,
        name="orch",
        version=None,
        input_json=None,
    )
    return NewInstance(instance_id, execution_id, "orch", None, None, h.dumps(started), START)


def _commit(store: SqliteTaskHubStore, instance_id: str, status: RuntimeStatus) -> None:
    record, rows = store.read_inbox(instance_id)
    store.commit_episode(
        EpisodeCommit(
            instance_id=instance_id,
            execution_id=record.execution_id,
            history_count=record.history_count,
            consumed=[r.id for r in rows],
            appended=[h.dumps(h.orchestrator_started(START))],
            status=status,
            now=START,
            activities=[(0, "Hello", '"x"')],
        )
    )


@pytest.fixture
def store(store_path: str):
    store = SqliteTaskHubStore(store_path)
    yield store
    store.close()


def test_a_new_instance_is_runnable_and_a_running_id_is_refused(store):
    store.create_instance(_new("a"))
    assert store.ready_instances(10, set()) == ["a"]
    assert store.ready_instances(10, {"a"}) == []
    with pytest.raises(InstanceExists):
        store.create_instance(_new("a", "e2"))


def test_an_episode_commit_is_refused_when_the_instance_moved_on(store):
    store.create_instance(_new("a"))
    _commit(store, "a", RuntimeStatus.RUNNING)
    stale = EpisodeCommit(
        instance_id="a",
        execution_id="e1",
        history_count=0,
        consumed=[],
        appended=["{}"],
        status=RuntimeStatus.COMPLETED,
        now=START,
    )
    with pytest.raises(InstanceChanged, match="instance 'a' changed since it was read"):
        store.commit_episode(stale)
    record = store.get_instance("a")
    assert (record.status, record.history_count) == (RuntimeStatus.RUNNING, 1)


def test_deliveries_settle_work_rows_and_skip_ended_or_other_executions(store):
    store.create_instance(_new("a"))
    _commit(store, "a", RuntimeStatus.RUNNING)
    (row,) = store.next_activities(0, 10)
    done = h.dumps(h.task_completed(START, 0, '"ok"'))
    store.deliver(
        [
            Delivery("a", "e1", done, activity_row=row.id),
            Delivery("a", "other-execution", done),
            Delivery("missing", None, done),
            Delivery("a", "e1", done, activity_row=row.id),  # a duplicate run: dropped
        ]
    )
    record, rows = store.read_inbox("a")
    assert [r.event for r in rows] == [done]
    assert store.next_activities(0, 10) == []
    assert store.ready_instances(10, set()) == ["a"]


def test_an_ended_instance_accepts_no_more_events(store):
    store.create_instance(_new("a"))
    _commit(store, "a", RuntimeStatus.COMPLETED)
    store.deliver([Delivery("a", None, h.dumps(h.event_raised(START, "x", None)))])
    assert store.read_inbox("a")[1] == []
    assert store.ready_instances(10, set()) == []
    assert store.next_activities(0, 10) != []  # scheduled work still runs; its result is dropped


def test_work_rows_survive_reopening_the_file(tmp_path):
    path = str(tmp_path / "hub.sqlite3")
    first = SqliteTaskHubStore(path)
    first.create_instance(_new("a"))
    _commit(first, "a", RuntimeStatus.RUNNING)
    first.close()
    again = SqliteTaskHubStore(path)
    assert [r.name for r in again.next_activities(0, 10)] == ["Hello"]
    assert again.get_instance("a").status is RuntimeStatus.RUNNING
    again.close()


def test_a_bad_continuation_token_is_a_value_error(store):
    with pytest.raises(ValueError, match="continuation token"):
        store.query_instances(InstanceQuery(continuation_token="not-a-token"))
