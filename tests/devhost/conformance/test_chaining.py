"""Function chaining (apps/chaining): activities run one at a time, in the orchestrator's order."""

from __future__ import annotations

import json

from dateutil import parser as date_parser

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess

APP = "chaining"


def test_greetings_come_back_in_call_order(app_host: HostProcess):
    cities = ["Tokyo", "Seattle", "London", "Cairo"]
    started = flow.start(app_host, "hello_sequence", cities)
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["name"] == "hello_sequence"
    assert final["instanceId"] == started["id"]
    assert final["output"] == [f"Hello {city}!" for city in cities]
    assert final["customStatus"] == {"greeted": 4, "last": "Cairo"}
    # The SDK's start_new posts json.dumps(input) as a JSON string: the instance keeps that text.
    assert final["input"] == json.dumps(cities)


def test_history_shows_one_activity_at_a_time(app_host: HostProcess):
    cities = ["Oslo", "Lima", "Pune"]
    started = flow.start(app_host, "hello_sequence", cities)
    assert flow.wait(started)["runtimeStatus"] == "Completed"
    events = flow.history(started)
    assert events[0]["EventType"] == "ExecutionStarted"
    assert events[0]["FunctionName"] == "hello_sequence"
    assert events[-1]["EventType"] == "ExecutionCompleted"
    assert events[-1]["OrchestrationStatus"] == "Completed"
    assert events[-1]["Result"] == [f"Hello {city}!" for city in cities]
    completed = flow.events_of(events, "TaskCompleted")
    assert [e["FunctionName"] for e in completed] == ["say_hello"] * 3
    assert [e["Result"] for e in completed] == [f"Hello {city}!" for city in cities]
    # Chaining: each activity is scheduled only after the previous one has completed.
    for previous, following in zip(completed, completed[1:], strict=False):
        assert date_parser.parse(following["ScheduledTime"]) >= date_parser.parse(
            previous["Timestamp"]
        )


def test_each_step_gets_the_previous_output(app_host: HostProcess):
    legs = [{"to": "Lyon", "km": 465}, {"to": "Turin", "km": 310}, {"to": "Milan", "km": 140}]
    started = flow.start(app_host, "relay", legs)
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {
        "baton": {"route": ["Lyon", "Turin", "Milan"], "distance": 915},
        "summary": "Lyon -> Turin -> Milan (915 km)",
    }
    completed = flow.events_of(flow.history(started), "TaskCompleted")
    # The activity passed as a function object is scheduled under its function name.
    assert [e["FunctionName"] for e in completed] == ["run_leg"] * 3 + ["summarize"]
    assert completed[1]["Result"] == {"route": ["Lyon", "Turin"], "distance": 775}
