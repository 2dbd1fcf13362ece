"""Human interaction (apps/human_interaction): an external event raised through sendEventPostUri
races a durable timer in task_any."""

from __future__ import annotations

import datetime as dt
import json

from dateutil import parser as date_parser

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess, poll

APP = "human_interaction"


def challenge(request: dict) -> int:
    """The code the app's send_approval_request activity 'sends'."""
    return (request["amount"] * 37 + len(request["requester"])) % 10000


def custom_status_is(started: dict, expected: dict) -> None:
    poll(
        lambda: flow.status(started).json()["customStatus"] == expected,
        30,
        f"customStatus {expected}",
    )


def test_approval_before_the_deadline(app_host: HostProcess):
    request = {"requester": "bob", "amount": 250, "timeoutSeconds": 3}
    started = flow.start(app_host, "approval_workflow", request)
    custom_status_is(started, {"state": "awaiting approval", "attempts": 0})
    answer = {"code": challenge(request), "approver": "alice", "approved": True}
    raised = flow.raise_event(started, "ApprovalResponse", answer)
    assert (raised.status, raised.body) == (202, b"")
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {
        "approved": True,
        "approver": "alice",
        "timedOut": False,
        "attempts": 1,
    }
    assert final["customStatus"] == {"state": "approved", "attempts": 1}
    events = flow.history(started)
    raised_events = flow.events_of(events, "EventRaised")
    # History shows an event's input as the JSON text it was stored as (it is not parsed).
    assert [(e["Name"], json.loads(e["Input"])) for e in raised_events] == [
        ("ApprovalResponse", answer)
    ]
    assert len(flow.events_of(events, "TimerCreated")) == 1
    assert flow.events_of(events, "TimerFired") == []  # the event won; the timer was cancelled
    assert [e["FunctionName"] for e in flow.events_of(events, "TaskCompleted")] == [
        "send_approval_request",
        "notify_requester",
    ]
    # The instance has finished: further events are refused with 410 Gone.
    assert flow.raise_event(started, "ApprovalResponse", answer).status == 410


def test_wrong_code_then_rejection(app_host: HostProcess):
    request = {"requester": "carol", "amount": 99, "timeoutSeconds": 3}
    started = flow.start(app_host, "approval_workflow", request)
    custom_status_is(started, {"state": "awaiting approval", "attempts": 0})
    wrong = {"code": challenge(request) + 1, "approver": "mallory", "approved": True}
    assert flow.raise_event(started, "ApprovalResponse", wrong).status == 202
    custom_status_is(started, {"state": "wrong code", "attempts": 1})
    right = {"code": challenge(request), "approver": "dave", "approved": False}
    assert flow.raise_event(started, "ApprovalResponse", right).status == 202
    final = flow.wait(started)
    assert final["output"] == {
        "approved": False,
        "approver": "dave",
        "timedOut": False,
        "attempts": 2,
    }
    assert final["customStatus"] == {"state": "rejected", "attempts": 2}


def test_an_event_raised_before_the_orchestrator_waits_is_kept(app_host: HostProcess):
    request = {"requester": "erin", "amount": 7, "timeoutSeconds": 3}
    started = flow.start(app_host, "approval_workflow", request)
    answer = {"code": challenge(request), "approver": "frank", "approved": True}
    # Raised at once, possibly while the first activity still runs: the event waits in the
    # instance's history until wait_for_external_event asks for it.
    assert flow.raise_event(started, "ApprovalResponse", answer).status == 202
    final = flow.wait(started)
    assert final["output"]["approved"] is True
    assert final["output"]["approver"] == "frank"


def test_the_timer_wins_when_nobody_answers(app_host: HostProcess):
    request = {"requester": "grace", "amount": 10, "timeoutSeconds": 1}
    started = flow.start(app_host, "approval_workflow", request)
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"approved": False, "timedOut": True, "attempts": 0}
    assert final["customStatus"] == {"state": "expired", "attempts": 0}
    events = flow.history(started)
    assert flow.events_of(events, "EventRaised") == []
    created = flow.events_of(events, "TimerCreated")
    fired = flow.events_of(events, "TimerFired")
    assert len(created) == len(fired) == 1
    assert fired[0]["FireAt"] == created[0]["FireAt"]
    fire_at = date_parser.parse(created[0]["FireAt"])
    # The deadline is one second after the episode that set it, which ran after the activity.
    activity_done = date_parser.parse(flow.events_of(events, "TaskCompleted")[0]["Timestamp"])
    assert fire_at - activity_done >= dt.timedelta(seconds=1)
    assert date_parser.parse(fired[0]["Timestamp"]) >= fire_at
