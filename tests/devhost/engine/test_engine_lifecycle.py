"""Instance management: sub-orchestrations, continue-as-new, terminate, restart, purge, query."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import azure.durable_functions as df
import pytest

from devhost.clock import FakeClock
from devhost.history import EventType
from devhost.taskhub import (
    InstanceExists,
    InstanceGone,
    InstanceNotFound,
    InstanceQuery,
    InvalidInstanceId,
    InvalidOperation,
    RuntimeStatus,
    UnknownFunction,
)
from tests.devhost.engine.conftest import START
from tests.devhost.engine.engine_apps import client_input, drain, functions, hello, sequence


def child(context: df.DurableOrchestrationContext):
    value = context.get_input()
    if value == "break":
        raise ValueError("child broke")
    greeting = yield context.call_activity("Hello", value)
    return {"child": context.instance_id, "parent": context.parent_instance_id, "says": greeting}


def parent(context: df.DurableOrchestrationContext):
    try:
        return (yield context.call_sub_orchestrator("child", context.get_input()))
    except Exception as error:
        return str(error)


def _app():
    return functions({"parent": parent, "child": child, "sequence": sequence}, {"Hello": hello})


def test_a_sub_orchestration_gets_the_default_id_and_returns_its_output(make_engine, store_path):
    engine = make_engine(_app(), store_path)
    instance_id = engine.start_orchestration("parent", client_input("Kyoto"))
    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    child_id = f"{status.execution_id}:0"
    assert json.loads(status.output) == {
        "child": child_id,
        "parent": instance_id,
        "says": "Hello Kyoto!",
    }
    created = [e for e in status.history if e["EventType"] == 7][0]
    assert (created["EventId"], created["InstanceId"], created["Name"]) == (0, child_id, "child")
    completed = [e for e in status.history if e["EventType"] == 8][0]
    assert json.loads(completed["Result"])["says"] == "Hello Kyoto!"
    child_status = engine.get_status(child_id, show_history=True)
    assert child_status.parent_instance_id == instance_id
    parent_info = child_status.history[1]["ParentInstance"]
    assert parent_info["OrchestrationInstance"]["InstanceId"] == instance_id
    assert parent_info["TaskScheduleId"] == 0


def test_a_failing_sub_orchestration_fails_the_call_in_the_parent(make_engine):
    engine = make_engine(_app())
    instance_id = engine.start_orchestration("parent", client_input("break"))
    drain(engine)
    message = json.loads(engine.get_status(instance_id).output)
    assert message.startswith("Orchestrator function 'child' failed: child broke \n Message: child")
    child_status = engine.get_status(f"{engine.get_status(instance_id).execution_id}:0")
    assert child_status.runtime_status is RuntimeStatus.FAILED


def test_a_sub_orchestration_id_that_is_taken_fails_the_call(make_engine):
    def explicit(context: df.DurableOrchestrationContext):
        try:
            yield context.call_sub_orchestrator("sequence", None, "taken")
        except Exception as error:
            return str(error)

    app = _app()
    app.orchestrators["explicit"] = functions({"explicit": explicit}).orchestrators["explicit"]
    engine = make_engine(app)
    engine.start_orchestration("sequence", None, "taken")
    instance_id = engine.start_orchestration("explicit", None)
    engine.worker.run_episode(instance_id)
    drain(engine)
    output = json.loads(engine.get_status(instance_id).output)
    assert "An Orchestration instance with the ID 'taken' already exists." in output


def test_continue_as_new_starts_a_new_execution_and_keeps_unprocessed_events(make_engine):
    seen: Counter[str] = Counter()

    def counter(context: df.DurableOrchestrationContext):
        total = context.get_input()
        tick = yield context.wait_for_external_event("tick")
        seen[context.instance_id] += 1
        if tick == "stop":
            return total
        context.continue_as_new(total + tick)

    engine = make_engine(functions({"counter": counter}))
    instance_id = engine.start_orchestration("counter", client_input(0))
    drain(engine)
    first_execution = engine.get_status(instance_id).execution_id
    for value in ("1", "2", "3", '"stop"'):  # all arrive in one batch
        engine.raise_event(instance_id, "tick", value)
    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, "6")
    assert status.execution_id != first_execution
    assert status.history[1]["EventType"] == EventType.EXECUTION_STARTED
    assert status.history[1]["OrchestrationInstance"]["ExecutionId"] == status.execution_id
    assert json.loads(status.history[1]["Input"]) == "6"
    assert status.input == json.dumps("6")


def test_terminate_ends_the_instance_and_drops_its_pending_work(make_engine, store_path):
    engine = make_engine(_app(), store_path)
    instance_id = engine.start_orchestration("sequence", None)
    engine.process_next()  # schedules the first activity
    engine.terminate(instance_id, "operator said stop")
    assert engine.get_status(instance_id).runtime_status is RuntimeStatus.RUNNING  # asynchronous
    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (
        RuntimeStatus.TERMINATED,
        "operator said stop",
    )
    kinds = [e["EventType"] for e in status.history]
    assert kinds[-3:] == [EventType.EXECUTION_TERMINATED, EventType.EXECUTION_COMPLETED, 13]
    assert status.history[-2]["OrchestrationStatus"] == RuntimeStatus.TERMINATED.code
    assert engine.store.next_activities(0, 10) == []
    with pytest.raises(InstanceGone):
        engine.terminate(instance_id, "again")
    with pytest.raises(InstanceGone):
        engine.raise_event(instance_id, "x", None)
    with pytest.raises(InstanceNotFound):
        engine.raise_event("nobody", "x", None)


def test_start_refuses_a_running_id_but_replaces_a_finished_one(make_engine):
    engine = make_engine(_app())
    engine.start_orchestration("sequence", None, "same")
    with pytest.raises(InstanceExists):
        engine.start_orchestration("sequence", None, "same")
    drain(engine)
    first = engine.get_status("same").execution_id
    engine.start_orchestration("sequence", client_input("again"), "same")
    status = engine.get_status("same", show_history=True)
    assert status.runtime_status is RuntimeStatus.PENDING and status.execution_id != first
    assert status.history == []


@pytest.mark.parametrize(
    "bad", ["", "@entity", "a/b", "a\\b", "a#b", "a?b", "tab\there", "x" * 257]
)
def test_instance_ids_follow_the_extension_rules(make_engine, bad: str):
    engine = make_engine(_app())
    with pytest.raises(InvalidInstanceId):
        engine.start_orchestration("sequence", None, bad)


def test_unknown_orchestrators_are_refused_with_the_known_names(make_engine):
    engine = make_engine(_app())
    with pytest.raises(UnknownFunction, match="known orchestrator functions: 'child', 'parent'"):
        engine.start_orchestration("nope", None)


def test_restart_runs_the_same_input_under_a_new_or_the_same_id(make_engine):
    engine = make_engine(_app())
    original = engine.start_orchestration("parent", client_input("Oslo"), "orig")
    drain(engine)
    renewed = engine.restart(original)
    same = None
    drain(engine)
    same = engine.restart(original, restart_with_new_instance_id=False)
    drain(engine)
    assert renewed != original and same == original
    for instance_id in (renewed, same):
        status = engine.get_status(instance_id)
        assert json.loads(status.output)["says"] == "Hello Oslo!"
    with pytest.raises(InstanceNotFound):
        engine.restart("missing")


class FailsOnce:
    """A greeting activity whose very first call fails."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, value: str) -> str:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError(f"first call ({value}) fails")
        return f"Hello {value}!"


def test_rewind_reruns_the_failed_activity_and_completes(make_engine, store_path):
    engine = make_engine(functions({"sequence": sequence}, {"Hello": FailsOnce()}), store_path)
    instance_id = engine.start_orchestration("sequence", None)
    drain(engine)
    assert engine.get_status(instance_id).runtime_status is RuntimeStatus.FAILED

    engine.rewind(instance_id, "fixed the target")
    assert engine.get_status(instance_id).runtime_status is RuntimeStatus.RUNNING
    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert status.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(status.output) == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    rewound = [e["Data"] for e in status.history if e["EventType"] == EventType.GENERIC_EVENT]
    assert rewound[:2] == ["Rewound: TASK_FAILED 0", "Rewound: EXECUTION_COMPLETED"]


def test_rewind_gives_an_exhausted_retry_its_last_attempt_back(make_engine, clock: FakeClock):
    def retrying(context: df.DurableOrchestrationContext):
        options = df.RetryOptions(1000, 2)
        return (yield context.call_activity_with_retry("Hello", options, "x"))

    calls: Counter[str] = Counter()

    def fails_twice(value: str) -> str:
        calls[value] += 1
        if calls[value] <= 2:
            raise RuntimeError("not yet")
        return "third time lucky"

    engine = make_engine(functions({"retrying": retrying}, {"Hello": fails_twice}))
    instance_id = engine.start_orchestration("retrying", None)
    for _ in range(5):
        drain(engine)
        clock.advance(1)
    assert engine.get_status(instance_id).runtime_status is RuntimeStatus.FAILED

    engine.rewind(instance_id, None)
    drain(engine)
    status = engine.get_status(instance_id, show_history=True)
    assert (status.runtime_status, status.output) == (RuntimeStatus.COMPLETED, '"third time lucky"')
    rewound = [e["Data"] for e in status.history if e["EventType"] == EventType.GENERIC_EVENT]
    assert rewound[:4] == [
        "Rewound: TASK_FAILED 2",
        "Rewound: TIMER_CREATED 3",
        "Rewound: TIMER_FIRED 3",
        "Rewound: EXECUTION_COMPLETED",
    ]


def test_rewind_also_rewinds_a_failed_sub_orchestration(make_engine):
    def strict_parent(context: df.DurableOrchestrationContext):
        return (yield context.call_sub_orchestrator("sequence", None, "strict-child"))

    engine = make_engine(
        functions({"strict_parent": strict_parent, "sequence": sequence}, {"Hello": FailsOnce()})
    )
    instance_id = engine.start_orchestration("strict_parent", None)
    drain(engine)
    assert engine.get_status("strict-child").runtime_status is RuntimeStatus.FAILED
    assert engine.get_status(instance_id).runtime_status is RuntimeStatus.FAILED

    engine.rewind(instance_id, "again")
    drain(engine)
    assert engine.get_status("strict-child").runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(engine.get_status(instance_id).output)[0] == "Hello Tokyo!"


def test_rewind_refuses_instances_that_did_not_fail(make_engine):
    engine = make_engine(_app())
    engine.start_orchestration("sequence", None, "ok")
    drain(engine)
    with pytest.raises(InstanceGone):
        engine.rewind("ok", "completed instances cannot be rewound")
    engine.start_orchestration("parent", client_input("x"), "busy")
    with pytest.raises(InvalidOperation, match="only supported on failed"):
        engine.rewind("busy", None)
    with pytest.raises(InstanceNotFound):
        engine.rewind("nobody", None)


def test_query_filters_and_pages_with_a_continuation_token(make_engine, clock: FakeClock):
    engine = make_engine(_app())
    for n in range(5):
        engine.start_orchestration("sequence", None, f"job-{n}")
        clock.advance(60)
    engine.start_orchestration("parent", client_input("x"), "other")
    drain(engine)
    engine.start_orchestration("sequence", None, "job-pending")

    page, token = engine.query_instances(InstanceQuery(instance_id_prefix="job-", top=2))
    ids = [s.instance_id for s in page]
    while token:
        page, token = engine.query_instances(
            InstanceQuery(instance_id_prefix="job-", top=2, continuation_token=token)
        )
        ids += [s.instance_id for s in page]
    assert ids == ["job-0", "job-1", "job-2", "job-3", "job-4", "job-pending"]

    window, _ = engine.query_instances(
        InstanceQuery(
            created_from=START + dt.timedelta(minutes=1),
            created_to=START + dt.timedelta(minutes=3),
            statuses=[RuntimeStatus.COMPLETED],
            show_input=False,
        )
    )
    assert [s.instance_id for s in window] == ["job-1", "job-2", "job-3"]
    pending, _ = engine.query_instances(InstanceQuery(statuses=[RuntimeStatus.PENDING]))
    assert [s.instance_id for s in pending] == ["job-pending"]


def test_purge_one_and_purge_by_filter(make_engine, clock: FakeClock):
    engine = make_engine(_app())
    for n in range(3):
        engine.start_orchestration("sequence", None, f"p-{n}")
        clock.advance(60)
    drain(engine)

    assert engine.purge_instance("p-0") == 1
    assert engine.purge_instance("p-0") == 0
    assert engine.get_status("p-0") is None
    assert engine.purge_instances(START, None, [RuntimeStatus.FAILED]) == 0
    assert engine.purge_instances(START, None, [RuntimeStatus.COMPLETED]) == 2
    assert engine.query_instances(InstanceQuery()) == ([], None)
    assert engine.store.load_history("p-1") == []


def test_terminating_a_sub_orchestration_fails_the_call_in_the_parent(make_engine):
    def waiting_child(context: df.DurableOrchestrationContext):
        return (yield context.wait_for_external_event("never"))

    def waiting_parent(context: df.DurableOrchestrationContext):
        try:
            yield context.call_sub_orchestrator("waiting_child", None, "the-child")
        except Exception as error:
            return str(error)

    engine = make_engine(
        functions({"waiting_parent": waiting_parent, "waiting_child": waiting_child})
    )
    instance_id = engine.start_orchestration("waiting_parent", None)
    drain(engine)
    engine.terminate("the-child", "no longer needed")
    drain(engine)
    assert engine.get_status("the-child").runtime_status is RuntimeStatus.TERMINATED
    assert json.loads(engine.get_status(instance_id).output).startswith("no longer needed")


def test_a_stopped_engine_picks_up_where_it_left_off(make_engine, store_path):
    engine = make_engine(_app(), store_path, max_concurrent_activities=2)
    engine.start()
    engine.stop()
    ids = [engine.start_orchestration("sequence", None) for _ in range(3)]
    engine.process_next()
    engine.start()
    from tests.devhost.engine.engine_apps import wait_until

    wait_until(lambda: all(engine.get_status(i).runtime_status.is_terminal for i in ids))
    engine.stop()
    assert {engine.get_status(i).runtime_status for i in ids} == {RuntimeStatus.COMPLETED}
