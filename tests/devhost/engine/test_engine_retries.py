"""Retries run by the host as DTFx's RetryInterceptor does (reference §2.5)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import azure.durable_functions as df

from devhost.clock import FakeClock
from devhost.history import EventType
from devhost.taskhub import RuntimeStatus
from tests.devhost.engine.engine_apps import drain, event_kinds, functions

RETRY_TYPES = {
    EventType.TASK_SCHEDULED,
    EventType.TASK_COMPLETED,
    EventType.TASK_FAILED,
    EventType.TIMER_CREATED,
    EventType.TIMER_FIRED,
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
}


class Flaky:
    """An activity that fails its first ``failures`` calls per input, then greets."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: Counter[str] = Counter()

    def __call__(self, name: str) -> str:
        self.calls[name] += 1
        if self.calls[name] <= self.failures:
            raise RuntimeError(f"attempt {self.calls[name]} for {name} failed")
        return f"Hello {name}!"


def _retry_kinds(engine: Any, instance_id: str) -> list[tuple[int, int | None]]:
    history = engine.get_status(instance_id, show_history=True).history
    return [k for k in event_kinds(history) if k[0] in RETRY_TYPES]


def _run_to_end(engine: Any, clock: FakeClock, instance_id: str, step_seconds: float = 1) -> None:
    for _ in range(50):
        drain(engine)
        if engine.get_status(instance_id).runtime_status.is_terminal:
            return
        clock.advance(step_seconds)
    raise AssertionError("orchestration did not finish")


def test_exhausted_retries_write_a_timer_after_every_failure_including_the_last(
    make_engine, clock: FakeClock, store_path
):
    def retrying(context: df.DurableOrchestrationContext):
        try:
            yield context.call_activity_with_retry("Hello", df.RetryOptions(1000, 3), "Tokyo")
        except Exception as error:
            return str(error).split(" \n ")[0]

    engine = make_engine(
        functions({"retrying": retrying}, {"Hello": Flaky(failures=99)}), store_path
    )
    instance_id = engine.start_orchestration("retrying", None)
    _run_to_end(engine, clock, instance_id)

    status = engine.get_status(instance_id, show_history=True)
    assert status.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(status.output) == (
        "Activity function 'Hello' failed: RuntimeError: attempt 3 for Tokyo failed"
    )
    assert _retry_kinds(engine, instance_id) == [
        (4, 0),
        (6, 0),
        (10, 1),
        (11, 1),
        (4, 2),
        (6, 2),
        (10, 3),
        (11, 3),
        (4, 4),
        (6, 4),
        (10, 5),
        (11, 5),
    ]
    timers = {e["EventId"]: e for e in status.history if e["EventType"] == 10}
    assert timers[1]["FireAt"] == "2024-01-01T00:00:01.0000000Z"  # created at 00:00:00 + 1 s
    dummy = timers[5]
    assert dummy["FireAt"] == dummy["Timestamp"]  # the back-compat timer fires at once


def test_a_retry_that_succeeds_returns_the_result(make_engine, clock: FakeClock):
    def retrying(context: df.DurableOrchestrationContext):
        return (yield context.call_activity_with_retry("Hello", df.RetryOptions(5000, 3), "x"))

    flaky = Flaky(failures=1)
    engine = make_engine(functions({"retrying": retrying}, {"Hello": flaky}))
    instance_id = engine.start_orchestration("retrying", None)
    drain(engine)
    assert engine.get_status(instance_id).runtime_status is RuntimeStatus.RUNNING
    clock.advance(4.9)
    assert drain(engine) == 0  # the retry timer is not due yet
    clock.advance(0.1)
    drain(engine)

    status = engine.get_status(instance_id)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, '"Hello x!"')
    assert _retry_kinds(engine, instance_id) == [(4, 0), (6, 0), (10, 1), (11, 1), (4, 2), (5, 2)]
    assert flaky.calls["x"] == 2


def test_concurrent_retries_interleave_ids_exactly_like_the_sdk(make_engine, clock: FakeClock):
    """The SDK test add_two_retriable_events_completing_out_of_order, produced by the engine."""

    def two(context: df.DurableOrchestrationContext):
        options = df.RetryOptions(1000, 2)
        tokyo = context.call_activity_with_retry("Hello", options, "Tokyo")
        seattle = context.call_activity_with_retry("Hello", options, "Seattle")
        return (yield context.task_all([tokyo, seattle]))

    engine = make_engine(functions({"two": two}, {"Hello": Flaky(failures=1)}))
    instance_id = engine.start_orchestration("two", None)
    engine.process_next()  # schedules Tokyo (0) and Seattle (1)
    tokyo, seattle = engine.store.next_activities(0, 10)
    for row in (seattle, tokyo):  # Seattle fails first, each failure in its own episode
        engine.store.deliver([engine.worker.execute_activity(row)])
        engine.worker.run_episode(instance_id)
        clock.advance(0.5)
    clock.advance(1)
    drain(engine)  # both timers fire in one episode, both re-attempts succeed

    status = engine.get_status(instance_id, show_history=True)
    assert json.loads(status.output) == ["Hello Tokyo!", "Hello Seattle!"]
    assert _retry_kinds(engine, instance_id) == [
        (4, 0),
        (4, 1),
        (6, 1),
        (10, 2),
        (6, 0),
        (10, 3),
        (11, 2),
        (11, 3),
        (4, 4),
        (4, 5),
        (5, 4),
        (5, 5),
    ]
    inputs = {e["EventId"]: e["Input"] for e in status.history if e["EventType"] == 4}
    assert (inputs[4], inputs[5]) == ('"Seattle"', '"Tokyo"')


def test_sub_orchestration_retries_start_a_new_child_per_attempt(make_engine, clock: FakeClock):
    attempts: list[str] = []

    def child(context: df.DurableOrchestrationContext):
        attempts.append(context.instance_id)
        if len(attempts) == 1:
            raise ValueError("first child fails")
        return "child ok"
        yield  # pragma: no cover

    def parent(context: df.DurableOrchestrationContext):
        options = df.RetryOptions(1000, 2)
        return (yield context.call_sub_orchestrator_with_retry("child", options, None))

    engine = make_engine(functions({"parent": parent, "child": child}))
    instance_id = engine.start_orchestration("parent", None)
    _run_to_end(engine, clock, instance_id)

    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, '"child ok"')
    assert _retry_kinds(engine, instance_id) == [(7, 0), (9, 0), (10, 1), (11, 1), (7, 2), (8, 2)]
    execution = status.execution_id
    assert attempts == [f"{execution}:0", f"{execution}:2"]
    failed = [e for e in status.history if e["EventType"] == 9][0]
    assert failed["Reason"] == "Orchestrator function 'child' failed: first child fails"
