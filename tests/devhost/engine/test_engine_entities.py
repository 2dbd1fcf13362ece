"""Durable entities (reference §6): signals, calls from orchestrators, state, listing."""

from __future__ import annotations

import json
import logging

import azure.durable_functions as df
import pytest

from devhost.history import EventType
from devhost.taskhub import RuntimeStatus, UnknownFunction
from tests.devhost.engine.engine_apps import drain, functions


def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "reset":
        value = 0
    elif operation == "fail":
        raise ValueError("counter refuses")
    elif operation == "delete":
        context.destruct_on_exit()
        return
    context.set_state(value)
    context.set_result(value)


def caller(context: df.DurableOrchestrationContext):
    entity = df.EntityId("Counter", "k1")
    context.signal_entity(entity, "add", 2)
    total = yield context.call_entity(entity, "add", 3)
    try:
        yield context.call_entity(entity, "fail")
    except Exception as error:
        return [total, str(error)]


def _engine(make_engine, path=":memory:"):
    return make_engine(functions({"caller": caller}, entities={"Counter": counter}), path)


def sdk_input(value: object) -> str:
    """The request input the extension stores for the SDK client's signal_entity(value)."""
    return json.dumps(json.loads(json.dumps(json.dumps(value))))


def test_client_signals_update_state_that_can_be_read(make_engine, store_path):
    engine = _engine(make_engine, store_path)
    # What the extension stores for the SDK client's signal_entity(..., 5): the client's body,
    # json.dumps(json.dumps(5)), parsed once, i.e. the JSON text '"5"'; get_input() decodes it
    # twice (reference §6.1) and gives the int 5.
    engine.signal_entity("Counter", "k1", "add", sdk_input(5))
    engine.signal_entity("counter", "k1", "add", sdk_input(7))
    # A raw HTTP body 7 is stored as the JSON text '7': get_input() fails on it, as on Azure
    # (df_loads of an int), and the counter's state is unchanged.
    engine.signal_entity("counter", "k1", "add", "7")
    drain(engine)

    state = engine.read_entity("COUNTER", "k1")
    assert (state.name, state.key, state.state) == ("counter", "k1", "12")
    assert engine.read_entity("Counter", "K1") is None  # keys are case-sensitive


def test_an_orchestrator_calls_and_signals_an_entity(make_engine, store_path):
    engine = _engine(make_engine, store_path)
    instance_id = engine.start_orchestration("caller", None)
    drain(engine)

    status = engine.get_status(instance_id, show_history=True)
    assert status.runtime_status is RuntimeStatus.COMPLETED
    total, error = json.loads(status.output)
    assert total == 5 and "counter refuses" in error
    sent = [e for e in status.history if e["EventType"] == EventType.EVENT_SENT]
    assert [(e["EventId"], e["InstanceId"], e["Name"]) for e in sent] == [
        (0, "@counter@k1", "add"),
        (1, "@counter@k1", "add"),
        (2, "@counter@k1", "fail"),
    ]
    signal, call = json.loads(sent[0]["Input"]), json.loads(sent[1]["Input"])
    assert signal["signal"] is True and "parent" not in signal
    assert (call["op"], call["input"], call["parent"]) == ("add", '"3"', instance_id)
    assert call["parentExecution"] == status.execution_id
    raised = [e for e in status.history if e["EventType"] == EventType.EVENT_RAISED]
    assert [e["Name"] for e in raised] == [call["id"], json.loads(sent[2]["Input"])["id"]]
    assert json.loads(raised[0]["Input"]) == {"result": "5"}
    assert "exceptionType" in json.loads(raised[1]["Input"])
    assert engine.read_entity("counter", "k1").state == "5"


def test_queued_operations_run_as_one_batch_in_order(make_engine, caplog):
    engine = _engine(make_engine)
    for operation, value in [("add", 1), ("add", 2), ("reset", None), ("add", 40)]:
        engine.signal_entity("Counter", "k", operation, None if value is None else sdk_input(value))
    with caplog.at_level(logging.INFO, logger="devhost.invocations"):
        drain(engine)
    assert engine.read_entity("counter", "k").state == "40"
    batches = [r for r in caplog.records if "Functions.Counter" in r.getMessage()]
    assert len(batches) == 1


def test_a_destructed_entity_is_gone(make_engine):
    engine = _engine(make_engine)
    engine.signal_entity("Counter", "gone", "add", sdk_input(1))
    drain(engine)
    assert engine.read_entity("Counter", "gone") is not None
    engine.signal_entity("Counter", "gone", "delete", None)
    drain(engine)
    assert engine.read_entity("Counter", "gone") is None


def test_entities_are_listed_by_name_with_paging(make_engine):
    engine = _engine(make_engine)
    for key in ("c", "a", "b"):
        engine.signal_entity("Counter", key, "add", sdk_input(1))
    drain(engine)

    first, token = engine.query_entities("Counter", top=2)
    rest, last_token = engine.query_entities("Counter", top=2, continuation_token=token)
    assert [(e.key, e.state) for e in first] == [("a", None), ("b", None)]
    assert [e.key for e in rest] == ["c"] and last_token is None
    with_state, _ = engine.query_entities("counter", fetch_state=True)
    assert [e.state for e in with_state] == ["1", "1", "1"]


def test_without_a_name_every_entity_of_the_hub_is_listed_with_paging(make_engine, clock):
    app = functions(entities={"Counter": counter, "Tally": counter})
    engine = make_engine(app)
    for name, key in (("Tally", "b"), ("Counter", "z"), ("Counter", "a@b"), ("Tally", "\u00e9")):
        engine.signal_entity(name, key, "add", sdk_input(1))
    drain(engine)
    clock.advance(60)
    engine.signal_entity("Tally", "later", "add", sdk_input(1))
    drain(engine)

    seen, token, pages = [], None, 0
    while True:
        page, token = engine.query_entities(None, top=2, continuation_token=token)
        seen += [(e.name, e.key) for e in page]
        pages += 1
        if token is None:
            break
        token.encode("ascii")  # the token travels in an HTTP header
    expected = [("counter", "a@b"), ("counter", "z"), ("tally", "b"), ("tally", "later")]
    assert seen == [*expected, ("tally", "\u00e9")] and pages == 3
    everything, last = engine.query_entities("", top=100)
    assert len(everything) == 5 and last is None
    recent, _ = engine.query_entities("", last_operation_from=clock.now())
    assert [(e.name, e.key) for e in recent] == [("tally", "later")]
    with pytest.raises(ValueError, match="invalid continuation token"):
        engine.query_entities(None, continuation_token="not base64!")


def test_a_scheduled_entity_signal_fails_the_orchestration_naming_the_action(make_engine):
    # Only the extension's own action list has ScheduledSignalEntity; the Python SDK 1.7 cannot
    # emit it, so a hand-written state stands in for an orchestrator that would.
    signal = {
        "actionType": 10,
        "instanceId": "@counter@k1",
        "operation": "add",
        "input": "1",
        "fireAt": "2024-01-01T00:05:00.000000Z",
    }
    state = json.dumps({"isDone": False, "schemaVersion": 2, "actions": [[signal]]})
    app = functions(entities={"Counter": counter})
    app.orchestrators["scheduler"] = lambda context: state
    engine = make_engine(app)
    instance_id = engine.start_orchestration("scheduler", None)
    drain(engine)

    status = engine.get_status(instance_id)
    assert status.runtime_status is RuntimeStatus.FAILED
    assert status.output.startswith(
        "Orchestrator function 'scheduler' failed: The ScheduledSignalEntity action (actionType "
        "10: 'add' on '@counter@k1' at 2024-01-01T00:05:00.000000Z) is not supported"
    )
    assert "context.signal_entity()" in status.output
    assert engine.read_entity("Counter", "k1") is None


def test_signalling_an_unknown_entity_is_refused(make_engine):
    engine = _engine(make_engine)
    with pytest.raises(UnknownFunction, match="not an entity function"):
        engine.signal_entity("Nope", "k", "add", None)
