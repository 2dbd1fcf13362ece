"""Real Durable Functions SDK objects wrapped as the loader would hand them to the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from devhost.taskhub import DurableFunctions


def activity(fn: Callable[[Any], Any]) -> Callable[[str | None], str | None]:
    """Decode the input and encode the result exactly as the Python worker's converter does."""

    def invoke(input_json: str | None) -> str | None:
        value = None
        if input_json is not None:
            datum = meta.Datum(type="json", value=input_json)
            value = ActivityTriggerConverter.decode(datum, trigger_metadata=None)
        result = fn(value)
        if result is None:
            return None
        encoded = ActivityTriggerConverter.encode(result, expected_type=None)
        return str(encoded.value)

    return invoke


def orchestrator(fn: Callable[[df.DurableOrchestrationContext], Any]) -> Callable[[str], str]:
    return df.Orchestrator.create(fn)


def entity(fn: Callable[[df.DurableEntityContext], None]) -> Callable[[str], str]:
    return df.Entity.create(fn)


def functions(
    orchestrators: dict[str, Callable[..., Any]] | None = None,
    activities: dict[str, Callable[[Any], Any]] | None = None,
    entities: dict[str, Callable[..., Any]] | None = None,
) -> DurableFunctions:
    return DurableFunctions(
        orchestrators={n: orchestrator(f) for n, f in (orchestrators or {}).items()},
        activities={n: activity(f) for n, f in (activities or {}).items()},
        entities={n: entity(f) for n, f in (entities or {}).items()},
    )


def hello(name: str) -> str:
    return f"Hello {name}!"


def sequence(context: df.DurableOrchestrationContext):
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("Hello", city)))
    return results


def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    tasks = [context.call_activity("Hello", str(i)) for i in range(count)]
    results = yield context.task_all(tasks)
    return len(results)


def client_input(value: Any) -> str:
    """What the Python client's start_new stores as input: a JSON string holding JSON."""
    import json

    return json.dumps(json.dumps(value))


def drain(engine: Any, limit: int = 10_000) -> int:
    """Step the engine until nothing is runnable; returns the number of steps."""
    for steps in range(limit):
        if not engine.process_next():
            return steps
    raise AssertionError(f"the engine still had work after {limit} steps")


def event_kinds(history: list[dict[str, Any]]) -> list[tuple[int, int | None]]:
    """(EventType, the id that matters) per event: EventId for scheduling, else the task id."""
    kinds = []
    for event in history:
        ref = event.get("TaskScheduledId", event.get("TimerId"))
        kinds.append((event["EventType"], event["EventId"] if ref is None else ref))
    return kinds


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds (no fixed sleeps)."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        pause.wait(0.005)
