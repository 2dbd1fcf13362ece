"""Durable timers, external events and suspension (reference §2.6, §2.7, §10 step 7)."""

from __future__ import annotations

import datetime as dt
import json

import azure.durable_functions as df
import pytest

from devhost.clock import FakeClock
from devhost.history import EventType
from devhost.taskhub import RuntimeStatus
from tests.devhost.engine.conftest import START
from tests.devhost.engine.engine_apps import drain, functions


def sleeper(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(hours=1))
    return "woke up"


def test_a_timer_fires_at_its_fire_at_and_not_before(make_engine, clock: FakeClock, store_path):
    engine = make_engine(functions({"sleeper": sleeper}), store_path)
    instance_id = engine.start_orchestration("sleeper", None)
    drain(engine)
    assert engine.store.next_timer_at() == START + dt.timedelta(hours=1)

    clock.advance(dt.timedelta(minutes=59, seconds=59))
    assert drain(engine) == 0
    clock.advance(1)
    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, '"woke up"')
    created = [e for e in status.history if e["EventType"] == EventType.TIMER_CREATED][0]
    fired = [e for e in status.history if e["EventType"] == EventType.TIMER_FIRED][0]
    assert created["FireAt"] == fired["FireAt"] == "2024-01-01T01:00:00.0000000Z"
    assert (created["EventId"], fired["TimerId"]) == (0, 0)
    assert engine.store.next_timer_at() is None


def test_a_started_engine_fires_timers_when_the_clock_moves(make_engine, clock: FakeClock):
    engine = make_engine(functions({"sleeper": sleeper}))
    instance_id = engine.start_orchestration("sleeper", None)
    engine.start()
    _wait_for(engine, lambda: engine.store.next_timer_at() is not None)
    clock.advance(dt.timedelta(hours=2))
    _wait_for(engine, lambda: engine.get_status(instance_id).runtime_status.is_terminal)
    assert engine.get_status(instance_id).output == '"woke up"'


def _wait_for(engine, condition) -> None:
    from tests.devhost.engine.engine_apps import wait_until

    wait_until(condition, timeout=20)


def approval(context: df.DurableOrchestrationContext):
    deadline = context.create_timer(context.current_utc_datetime + dt.timedelta(days=1))
    answer = context.wait_for_external_event("Approval")
    winner = yield context.task_any([answer, deadline])
    if winner == answer:
        deadline.cancel()
        return answer.result
    return "timed out"


def test_a_cancelled_timer_is_dropped_and_never_fires(make_engine, clock: FakeClock):
    engine = make_engine(functions({"approval": approval}))
    instance_id = engine.start_orchestration("approval", None)
    drain(engine)
    assert engine.store.next_timer_at() is not None

    engine.raise_event(instance_id, "Approval", json.dumps("yes"))
    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, '"yes"')
    assert engine.store.next_timer_at() is None
    clock.advance(dt.timedelta(days=2))
    assert drain(engine) == 0
    assert not [e for e in status.history if e["EventType"] == EventType.TIMER_FIRED]


def test_the_timeout_branch_wins_when_no_event_arrives(make_engine, clock: FakeClock):
    engine = make_engine(functions({"approval": approval}))
    instance_id = engine.start_orchestration("approval", None)
    drain(engine)
    clock.advance(dt.timedelta(days=1))
    drain(engine)
    assert engine.get_status(instance_id).output == '"timed out"'


# The SDK warns when an event arrives before anything waits for it; that is the point here.
@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")
def test_external_events_are_buffered_fifo_per_name_and_matched_case_sensitively(make_engine):
    def collector(context: df.DurableOrchestrationContext):
        first = yield context.wait_for_external_event("A")
        second = yield context.wait_for_external_event("A")
        lower = yield context.wait_for_external_event("b")
        return [first, second, lower]

    engine = make_engine(functions({"collector": collector}))
    instance_id = engine.start_orchestration("collector", None)
    # All raised before the orchestrator ever ran: they wait in the buffer.
    engine.raise_event(instance_id, "A", "1")
    engine.raise_event(instance_id, "B", '"wrong case"')
    engine.raise_event(instance_id, "A", "2")
    drain(engine)
    assert engine.get_status(instance_id).runtime_status is RuntimeStatus.RUNNING

    engine.raise_event(instance_id, "b", '{"ok": true}')
    drain(engine)
    status = engine.get_status(instance_id)
    assert json.loads(status.output) == [1, 2, {"ok": True}]


def test_events_raised_while_suspended_wait_for_resume(make_engine, store_path):
    def waiter(context: df.DurableOrchestrationContext):
        return (yield context.wait_for_external_event("go"))

    engine = make_engine(functions({"waiter": waiter}), store_path)
    instance_id = engine.start_orchestration("waiter", None)
    drain(engine)
    engine.suspend(instance_id, "maintenance")
    drain(engine)
    assert engine.get_status(instance_id).runtime_status is RuntimeStatus.SUSPENDED

    engine.raise_event(instance_id, "go", '"now"')
    drain(engine)
    status = engine.get_status(instance_id, show_history=True)
    assert status.runtime_status is RuntimeStatus.SUSPENDED
    assert not [e for e in status.history if e["EventType"] == EventType.EVENT_RAISED]

    engine.resume(instance_id, "done")
    drain(engine)
    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, '"now"')
    kinds = [e["EventType"] for e in status.history]
    suspended, resumed = (
        kinds.index(EventType.EXECUTION_SUSPENDED),
        kinds.index(EventType.EXECUTION_RESUMED),
    )
    assert suspended < resumed < kinds.index(EventType.EVENT_RAISED)
    reasons = [e.get("Reason") for e in status.history if e["EventType"] in (19, 20)]
    assert reasons == ["maintenance", "done"]
