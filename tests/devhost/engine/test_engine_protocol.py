"""Golden JSON of the out-of-proc protocol, and histories the replay must accept or reject.

Regenerate the context/state goldens (then review the diff!) with
``DEVHOST_WRITE_FIXTURES=1 .venv/bin/pytest tests/devhost/engine/test_engine_protocol.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from devhost import history as h
from devhost.catalog import FunctionCatalog
from devhost.engine import Engine
from devhost.executor import EpisodeExecutor, EpisodeInstance
from devhost.store import SqliteTaskHubStore
from devhost.taskhub import DurableFunctions, RuntimeStatus
from tests.devhost.engine.engine_apps import client_input, drain, functions, hello, orchestrator

FIXTURES = Path(__file__).parent / "fixtures"


def _golden(name: str, actual: Any) -> None:
    path = FIXTURES / name
    if os.environ.get("DEVHOST_WRITE_FIXTURES") == "1":
        path.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    assert actual == json.loads(path.read_text()), f"{name} differs from the golden file"


def greeter(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("Hello", context.get_input()["city"])
    second = yield context.task_all([context.call_activity("Hello", c) for c in ("A", "B")])
    return [first, *second]


def test_context_in_and_state_out_match_the_golden_files(make_engine):
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    invoke = orchestrator(greeter)

    def recording(context: str) -> str:
        state = invoke(context)
        seen.append((json.loads(context), json.loads(state)))
        return state

    app = functions(activities={"Hello": hello})
    app.orchestrators["greeter"] = recording
    engine = make_engine(app)
    engine.start_orchestration("greeter", client_input({"city": "Tokyo"}), "golden-1")
    drain(engine)

    execution_id = engine.get_status("golden-1").execution_id
    normalized = json.loads(json.dumps(seen).replace(execution_id, "EXECUTION-ID"))
    (context_2, state_2), (context_3, state_3) = normalized[1], normalized[2]
    _golden("greeter_episode2_context.json", context_2)
    _golden("greeter_episode2_state.json", state_2)
    _golden("greeter_episode3_state.json", state_3)
    assert state_3["isDone"] is True and context_3["history"][-1]["EventType"] == 5


def _replay_fixture(name: str, app: DurableFunctions) -> tuple[dict[str, Any], Any]:
    fixture = json.loads((FIXTURES / name).read_text())
    about = fixture["instance"]
    instance = EpisodeInstance(
        instance_id=about["instance_id"],
        execution_id=about["execution_id"],
        name=about["name"],
        version=None,
        input=None,
        status=RuntimeStatus.RUNNING,
    )
    inbox = list(enumerate(fixture["inbox"]))
    outcome = EpisodeExecutor(FunctionCatalog(app)).replay(
        instance,
        inbox,
        h.parse_timestamp(fixture["now"]),
        [h.dumps(event) for event in fixture["history"]],
    )
    return fixture, outcome


def test_the_sdk_retry_history_replays_without_complaint():
    def two(context: df.DurableOrchestrationContext):
        options = df.RetryOptions(1000, 2)
        tokyo = context.call_activity_with_retry("Hello", options, "Tokyo")
        seattle = context.call_activity_with_retry("Hello", options, "Seattle")
        return (yield context.task_all([tokyo, seattle]))

    fixture, outcome = _replay_fixture(
        "sdk_retry_out_of_order.json", functions({"two": two}, {"Hello": hello})
    )
    assert outcome.status.value == fixture["expected"]["status"]
    assert json.loads(outcome.output) == fixture["expected"]["output"]
    assert outcome.work == []


def goodbye_first(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("Goodbye", "Tokyo")
    return first


def test_a_nondeterministic_history_fails_naming_expected_and_actual():
    app = functions({"greeter": goodbye_first}, {"Hello": hello, "Goodbye": hello})
    fixture, outcome = _replay_fixture("nondeterministic_history.json", app)

    assert outcome.status.value == fixture["expected"]["status"]
    for text in fixture["expected"]["output_contains"]:
        assert text in outcome.output
    assert outcome.work == []
    closing = outcome.history[-2]
    assert (closing["EventType"], closing["OrchestrationStatus"]) == (1, 3)


def test_changing_the_code_under_a_running_instance_fails_it(tmp_path, clock):
    path = str(tmp_path / "hub.sqlite3")

    def hello_first(context: df.DurableOrchestrationContext):
        return (yield context.call_activity("Hello", "Tokyo"))

    activities = {"Hello": hello, "Goodbye": hello}
    before = Engine(
        SqliteTaskHubStore(path), functions({"greeter": hello_first}, activities), clock=clock
    )
    instance_id = before.start_orchestration("greeter", None)
    before.process_next()  # the first episode schedules Hello
    before.store.close()

    after = Engine(
        SqliteTaskHubStore(path), functions({"greeter": goodbye_first}, activities), clock=clock
    )
    drain(after)
    status = after.get_status(instance_id)
    after.store.close()
    assert status.runtime_status is RuntimeStatus.FAILED
    assert status.output.startswith("Non-Deterministic workflow detected: a previous execution ")
    assert "scheduled activity 'Hello'" in status.output
    assert "produced CallActivity 'Goodbye'" in status.output
