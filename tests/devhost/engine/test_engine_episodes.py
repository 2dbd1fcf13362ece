"""Episodes as the extension runs them (reference §10): context shape, replay, folding, failures."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df

from devhost.clock import FakeClock
from devhost.history import EventType
from devhost.taskhub import DurableFunctions, RuntimeStatus
from tests.devhost.engine.engine_apps import (
    client_input,
    drain,
    fan_out,
    functions,
    hello,
    orchestrator,
    sequence,
    wait_until,
)


class Recorder:
    """Wraps an orchestrator invoker and keeps every context it was called with."""

    def __init__(self, fn: Any) -> None:
        self.invoker = orchestrator(fn)
        self.contexts: list[dict[str, Any]] = []

    def __call__(self, context: str) -> str:
        self.contexts.append(json.loads(context))
        return self.invoker(context)


def _app(
    orchestrators: dict[str, Any],
    activities: dict[str, Any] | None = None,
    entities: dict[str, Any] | None = None,
) -> DurableFunctions:
    app = functions(activities=activities or {"Hello": hello}, entities=entities)
    app.orchestrators = {
        name: fn if isinstance(fn, Recorder) else orchestrator(fn)
        for name, fn in orchestrators.items()
    }
    return app


def test_first_episode_sends_orchestrator_started_then_execution_started(make_engine, store_path):
    recorder = Recorder(sequence)
    engine = make_engine(_app({"sequence": recorder}), store_path)
    instance_id = engine.start_orchestration("sequence", client_input({"a": 1}), "first-1")

    assert engine.process_next()

    context = recorder.contexts[0]
    first, started = context["history"]
    assert (first["EventType"], first["IsPlayed"]) == (EventType.ORCHESTRATOR_STARTED, False)
    assert started["EventType"] == EventType.EXECUTION_STARTED
    assert "Version" in started and started["Name"] == "sequence"
    assert started["OrchestrationInstance"]["InstanceId"] == instance_id
    assert context["input"] == json.dumps({"a": 1})  # the client's double encoding, parsed once
    assert (context["upperSchemaVersion"], context["upperSchemaVersionNew"]) == (1, 2)
    assert context["isReplaying"] is False and context["parentInstanceId"] is None
    stored = engine.get_status(instance_id, show_history=True)
    assert stored.runtime_status is RuntimeStatus.RUNNING
    assert [e["EventType"] for e in stored.history] == [12, 0, 4, 13]
    assert (stored.history[2]["EventId"], stored.history[2]["Name"]) == (0, "Hello")


def test_every_episode_starts_with_a_fresh_timestamp_and_replays_old_events_as_played(
    make_engine, clock: FakeClock
):
    def timestamps(context: df.DurableOrchestrationContext):
        seen = [context.current_utc_datetime.isoformat()]
        for city in ("a", "b"):
            yield context.call_activity("Hello", city)
            seen.append(context.current_utc_datetime.isoformat())
        return seen

    recorder = Recorder(timestamps)
    engine = make_engine(_app({"timestamps": recorder}))
    instance_id = engine.start_orchestration("timestamps", None)
    moments = []
    for _ in range(3):
        moments.append(clock.now())
        engine.process_next()  # an episode
        clock.advance(5)
        engine.process_next()  # an activity
    drain(engine)

    status = engine.get_status(instance_id)
    assert status.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(status.output) == [m.isoformat() for m in moments]
    second = recorder.contexts[1]["history"]
    new_start = max(i for i, e in enumerate(second) if e["EventType"] == 12)
    assert second[new_start]["Timestamp"] == "2024-01-01T00:00:05.0000000Z"
    assert all(e["IsPlayed"] for e in second[:new_start] if e["EventType"] != 12)
    assert not any(e["IsPlayed"] for e in second[new_start:])
    assert recorder.contexts[1]["isReplaying"] is True


def test_sequence_runs_activities_in_order_with_dtfx_ids(make_engine, store_path):
    engine = make_engine(_app({"sequence": sequence}), store_path)
    instance_id = engine.start_orchestration("SEQUENCE", None)  # names are case-insensitive

    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert status.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(status.output) == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    scheduled = [(e["EventId"], e["Input"]) for e in status.history if e["EventType"] == 4]
    assert scheduled == [(0, '"Tokyo"'), (1, '"Seattle"'), (2, '"London"')]
    closing = [e for e in status.history if e["EventType"] == EventType.EXECUTION_COMPLETED]
    assert closing[0]["OrchestrationStatus"] == RuntimeStatus.COMPLETED.code


def test_fan_out_completions_fold_into_few_episodes_without_replaying(make_engine, store_path):
    recorder = Recorder(fan_out)
    engine = make_engine(_app({"fan_out": recorder}), store_path)
    instance_id = engine.start_orchestration("fan_out", client_input(50))
    assert engine.process_next()  # episode 1: schedules 50 activities
    for _ in range(20):
        assert engine.process_next()  # 20 activities complete
    engine.worker.run_episode(instance_id)  # folds 20 completions without calling the SDK

    drain(engine)  # 30 more activities, then one episode folds all 30 and finishes

    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, "50")
    assert len(recorder.contexts) == 2  # first episode and the one that completed the fan-in
    episodes = [e for e in status.history if e["EventType"] == EventType.ORCHESTRATOR_STARTED]
    assert len(episodes) == 3
    completed = [e["TaskScheduledId"] for e in status.history if e["EventType"] == 5]
    assert sorted(completed) == list(range(50))
    assert len(recorder.contexts[1]["history"]) == len(status.history) - 2


def test_when_all_waits_for_every_child_before_the_next_action(make_engine):
    """The extension awaits Task.WhenAll, so after a fail-fast the next action waits."""

    def fail_fast(context: df.DurableOrchestrationContext):
        try:
            yield context.task_all(
                [context.call_activity("Fail", "x"), context.call_activity("Hello", "slow")]
            )
        except Exception:
            return (yield context.call_activity("Hello", "after"))

    app = _app({"fail_fast": fail_fast}, {"Hello": hello, "Fail": _raise_value_error})
    engine = make_engine(app)
    instance_id = engine.start_orchestration("fail_fast", None)
    engine.process_next()
    rows = engine.store.next_activities(0, 10)
    engine.store.deliver([engine.worker.execute_activity(rows[0])])  # only "Fail" finishes
    engine.worker.run_episode(instance_id)

    history = engine.get_status(instance_id, show_history=True).history
    assert not [e for e in history if e["EventType"] == 4 and e["Input"] == '"after"']

    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, '"Hello after!"')
    after = [e for e in status.history if e["EventType"] == 4 and e["Input"] == '"after"']
    assert after[0]["EventId"] == 2


def test_when_any_returns_the_first_result(make_engine):
    def race(context: df.DurableOrchestrationContext):
        first = context.call_activity("Hello", "first")
        second = context.wait_for_external_event("never")
        winner = yield context.task_any([first, second])
        return winner.result

    engine = make_engine(_app({"race": race}))
    instance_id = engine.start_orchestration("race", None)
    drain(engine)
    status = engine.get_status(instance_id)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, '"Hello first!"')


def _raise_value_error(value: Any) -> Any:
    raise ValueError(f"bad input {value}")


def test_activity_failure_reaches_the_orchestrator_with_reason_and_details(make_engine):
    def catcher(context: df.DurableOrchestrationContext):
        try:
            yield context.call_activity("Fail", "x")
        except Exception as error:
            return str(error)

    engine = make_engine(_app({"catcher": catcher}, {"Fail": _raise_value_error}))
    instance_id = engine.start_orchestration("catcher", None)
    drain(engine)

    message = json.loads(engine.get_status(instance_id).output)
    reason, details = message.split(" \n ", 1)
    assert reason == "Activity function 'Fail' failed: ValueError: bad input x"
    assert json.loads(details)["Message"] == "ValueError: bad input x"


def test_orchestrator_exception_fails_it_and_still_applies_earlier_actions(make_engine):
    def doomed(context: df.DurableOrchestrationContext):
        context.signal_entity(df.EntityId("counter", "k"), "add", 5)
        raise ValueError("boom")
        yield  # pragma: no cover - makes this a generator

    def counter(context: df.DurableEntityContext):
        context.set_state((context.get_state(lambda: 0) or 0) + context.get_input())

    engine = make_engine(_app({"doomed": doomed}, entities={"counter": counter}))
    instance_id = engine.start_orchestration("doomed", None)
    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert status.runtime_status is RuntimeStatus.FAILED
    assert status.output == "Orchestrator function 'doomed' failed: boom"
    closing = [e for e in status.history if e["EventType"] == EventType.EXECUTION_COMPLETED][0]
    assert (closing["OrchestrationStatus"], closing["Result"]) == (3, status.output)
    assert engine.read_entity("counter", "k").state == "5"


def test_custom_status_is_stored_and_an_oversized_one_fails_the_orchestration(make_engine):
    def progress(context: df.DurableOrchestrationContext):
        context.set_custom_status({"stage": context.get_input()})
        yield context.call_activity("Hello", "x")
        return "done"

    engine = make_engine(_app({"progress": progress}))
    small = engine.start_orchestration("progress", client_input("one"))
    big = engine.start_orchestration("progress", client_input("x" * 9000))
    drain(engine)

    assert engine.get_status(small).custom_status == '{"stage":"one"}'
    failed = engine.get_status(big)
    assert failed.runtime_status is RuntimeStatus.FAILED
    assert "must not exceed 16 KB" in failed.output and "17.6 KB" in failed.output


def test_unknown_activity_fails_the_orchestration_naming_the_known_ones(make_engine):
    def typo(context: df.DurableOrchestrationContext):
        yield context.call_activity("Helo", "x")

    engine = make_engine(_app({"typo": typo}))
    instance_id = engine.start_orchestration("typo", None)
    drain(engine)
    status = engine.get_status(instance_id)
    assert status.runtime_status is RuntimeStatus.FAILED
    assert "The function 'Helo' doesn't exist" in status.output
    assert "known activity functions: 'Hello'" in status.output


def test_many_instances_progress_concurrently_in_the_background(make_engine, store_path):
    engine = make_engine(
        _app({"fan_out": fan_out}),
        store_path,
        max_concurrent_activities=4,
        max_concurrent_orchestrations=4,
    )
    ids = [engine.start_orchestration("fan_out", client_input(10)) for _ in range(20)]
    engine.start()
    wait_until(lambda: all(engine.get_status(i).runtime_status.is_terminal for i in ids))
    statuses = [engine.get_status(i) for i in ids]
    assert [(s.runtime_status, s.output) for s in statuses] == [
        (RuntimeStatus.COMPLETED, "10")
    ] * 20


def test_an_activity_returning_none_completes_with_a_null_result(make_engine):
    def nothing(context: df.DurableOrchestrationContext):
        value = yield context.call_activity("Nothing", None)
        return {"got": value}

    engine = make_engine(_app({"nothing": nothing}, {"Nothing": lambda _: None}))
    instance_id = engine.start_orchestration("nothing", None)
    drain(engine)
    status = engine.get_status(instance_id, show_history=True)
    assert status.output == '{"got": null}'
    completed = [e for e in status.history if e["EventType"] == 5][0]
    assert completed["Result"] is None
