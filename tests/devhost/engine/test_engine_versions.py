"""Orchestration versions (host.json ``defaultVersion``) and ``overridableExistingInstanceStates``.

What the extension does, from its sources: a start without a version gets ``defaultVersion``
(``DurableClient.StartNewAsync``, ``HttpApiHandler``'s ``version`` query parameter overrides it);
a sub-orchestration gets the version its action names, else the host's ``defaultVersion`` (not
the parent's: ``OrchestrationVersionTests.ExistingOrchestrationVersionIsImmutable``);
continue-as-new keeps the version (DTFx ``TaskOrchestrationDispatcher``); the SDK reads
``context.version`` from ExecutionStarted's ``Version``. With ``AnyState`` a start replaces even
a running instance with a new execution (DTFx without dedupe statuses).
"""

from __future__ import annotations

import json

import azure.durable_functions as df
import pytest

from devhost.history import EventType
from devhost.taskhub import InstanceExists, OverridableStates, RuntimeStatus
from tests.devhost.engine.engine_apps import client_input, drain, functions, hello

DEFAULT = "1.0"


def reports_version(context: df.DurableOrchestrationContext):
    return {"version": context.version}
    yield  # a generator, as orchestrators are


def calls_children(context: df.DurableOrchestrationContext):
    plain = yield context.call_sub_orchestrator("reports_version", None, "child-plain")
    given = yield context.call_sub_orchestrator(
        "reports_version", None, "child-given", version="7.0"
    )
    retried = yield context.call_sub_orchestrator_with_retry(
        "reports_version", df.RetryOptions(1000, 2), None, "child-retried", "8.0"
    )
    return {"own": context.version, "plain": plain, "given": given, "retried": retried}


def continues(context: df.DurableOrchestrationContext):
    round_ = context.get_input()
    if round_ < 2:
        context.continue_as_new(round_ + 1)
        return None
    return {"round": round_, "version": context.version}
    yield


def waits(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("Hello", context.get_input())
    event = yield context.wait_for_external_event("Go")
    return {"greeting": greeting, "event": event}


def _app():
    return functions(
        {
            "reports_version": reports_version,
            "calls_children": calls_children,
            "continues": continues,
            "waits": waits,
        },
        {"Hello": hello},
    )


def _started(engine, instance_id: str) -> dict:
    history = engine.get_status(instance_id, show_history=True).history
    return next(e for e in history if e["EventType"] == EventType.EXECUTION_STARTED)


def test_a_start_without_a_version_gets_the_default_version(make_engine, store_path):
    engine = make_engine(_app(), store_path, default_version=DEFAULT)
    plain = engine.start_orchestration("reports_version", None)
    given = engine.start_orchestration("reports_version", None, version="2.5")
    drain(engine)

    assert json.loads(engine.get_status(plain).output) == {"version": DEFAULT}
    assert _started(engine, plain)["Version"] == DEFAULT
    assert json.loads(engine.get_status(given).output) == {"version": "2.5"}
    assert _started(engine, given)["Version"] == "2.5"


def test_without_a_default_version_the_version_is_empty(make_engine):
    engine = make_engine(_app())
    instance_id = engine.start_orchestration("reports_version", None)
    drain(engine)
    assert json.loads(engine.get_status(instance_id).output) == {"version": ""}


def test_sub_orchestrations_get_their_version_or_the_default_not_the_parents(make_engine):
    engine = make_engine(_app(), default_version=DEFAULT)
    parent = engine.start_orchestration("calls_children", None, "parent", version="9.0")
    drain(engine)

    assert json.loads(engine.get_status(parent).output) == {
        "own": "9.0",
        "plain": {"version": DEFAULT},
        "given": {"version": "7.0"},
        "retried": {"version": "8.0"},
    }
    history = engine.get_status(parent, show_history=True).history
    created = [e for e in history if e["EventType"] == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED]
    assert [(e["InstanceId"], e["Version"]) for e in created] == [
        ("child-plain", DEFAULT),
        ("child-given", "7.0"),
        ("child-retried", "8.0"),
    ]
    child = _started(engine, "child-given")
    assert child["Version"] == "7.0"
    assert (child["ParentInstance"]["Name"], child["ParentInstance"]["Version"]) == (
        "calls_children",
        "9.0",
    )


def test_continue_as_new_keeps_the_version(make_engine):
    engine = make_engine(_app(), default_version=DEFAULT)
    instance_id = engine.start_orchestration("continues", client_input(0), version="3.0")
    drain(engine)
    assert json.loads(engine.get_status(instance_id).output) == {"round": 2, "version": "3.0"}
    assert _started(engine, instance_id)["Version"] == "3.0"


def test_a_restart_is_a_new_start_with_the_default_version(make_engine):
    engine = make_engine(_app(), default_version=DEFAULT)
    first = engine.start_orchestration("reports_version", None, version="4.0")
    drain(engine)
    again = engine.restart(first)
    drain(engine)
    assert json.loads(engine.get_status(again).output) == {"version": DEFAULT}


def test_by_default_a_running_instance_is_not_replaced(make_engine):
    engine = make_engine(_app())
    engine.start_orchestration("waits", client_input("one"), "same")
    drain(engine)
    assert engine.get_status("same").runtime_status is RuntimeStatus.RUNNING
    with pytest.raises(InstanceExists, match="'same' already exists"):
        engine.start_orchestration("waits", client_input("two"), "same")


def test_with_any_state_a_running_instance_is_replaced_by_a_new_execution(make_engine, store_path):
    engine = make_engine(_app(), store_path, overridable_states=OverridableStates.ANY_STATE)
    engine.start_orchestration("waits", client_input("one"), "same")
    assert engine.process_next()  # the first episode: it now owes its activity
    before = engine.get_status("same")
    assert before.runtime_status is RuntimeStatus.RUNNING

    # Replace it while that activity is owed: it must never reach the new execution.
    assert engine.start_orchestration("waits", client_input("two"), "same") == "same"
    replaced = engine.get_status("same", show_history=True)
    assert replaced.runtime_status is RuntimeStatus.PENDING
    assert replaced.execution_id != before.execution_id
    assert replaced.history == [] and replaced.input == client_input("two")
    drain(engine)
    engine.raise_event("same", "Go", json.dumps("now"))
    drain(engine)

    final = engine.get_status("same", show_history=True)
    assert final.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(final.output) == {"greeting": "Hello two!", "event": "now"}
    kinds = [e["EventType"] for e in final.history]
    assert kinds.count(EventType.EXECUTION_STARTED) == 1
    assert kinds.count(EventType.TASK_COMPLETED) == 1


def test_with_any_state_a_finished_instance_is_replaced_too(make_engine):
    engine = make_engine(_app(), overridable_states=OverridableStates.ANY_STATE)
    engine.start_orchestration("reports_version", None, "done", version="1")
    drain(engine)
    engine.start_orchestration("reports_version", None, "done", version="2")
    drain(engine)
    assert json.loads(engine.get_status("done").output) == {"version": "2"}
