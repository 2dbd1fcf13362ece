"""Error handling (apps/error_handling): an activity's exception reaches the orchestrator as an
exception it can catch; uncaught, it fails the orchestration; RetryOptions retry the activity.

Messages (extension ``TaskActivityShim``, ``TaskOrchestrationShim``; SDK
``TaskOrchestrationExecutor``): an activity failure reads ``Activity function '<name>' failed:``
followed by the worker's ``<ExceptionType>: <message>``; in the orchestrator ``str(error)`` is that
reason, then the details; a failed orchestration's output reads
``Orchestrator function '<name>' failed: <str(exception)>``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from dateutil import parser as date_parser

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess

APP = "error_handling"


def test_caught_activity_failure_is_compensated(app_host: HostProcess):
    transfer = {"from": "alice", "to": "closed-bob", "amount": 20}
    started = flow.start(app_host, "transfer_funds", transfer)
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    output = final["output"]
    assert output["transferred"] is False
    assert output["refund"] == "refunded 20 to alice"
    assert output["error"].startswith("Activity function 'credit_account' failed: ")
    assert "ValueError: account closed-bob is closed" in output["error"]
    events = flow.history(started)
    [failed] = flow.events_of(events, "TaskFailed")
    assert failed["FunctionName"] == "credit_account"
    assert failed["Reason"].startswith("Activity function 'credit_account' failed: ")
    assert "ValueError: account closed-bob is closed" in failed["Reason"]
    completed = [e["FunctionName"] for e in flow.events_of(events, "TaskCompleted")]
    assert completed == ["debit_account", "credit_back"]


def test_successful_transfer(app_host: HostProcess):
    started = flow.start(app_host, "transfer_funds", {"from": "a", "to": "b", "amount": 1})
    final = flow.wait(started)
    assert (final["runtimeStatus"], final["output"]) == ("Completed", {"transferred": True})


def test_uncaught_activity_failure_fails_the_orchestration(app_host: HostProcess):
    transfer = {"from": "alice", "to": "closed-carol", "amount": 5}
    started = flow.start(app_host, "transfer_unprotected", transfer)
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Failed"
    assert final["output"].startswith(
        "Orchestrator function 'transfer_unprotected' failed: "
        "Activity function 'credit_account' failed: "
    )
    assert "ValueError: account closed-carol is closed" in final["output"]
    events = flow.history(started)
    assert events[-1]["EventType"] == "ExecutionCompleted"
    assert events[-1]["OrchestrationStatus"] == "Failed"


def test_retry_options_retry_until_success(app_host: HostProcess):
    request = {"key": uuid.uuid4().hex, "failures": 2, "attempts": 3, "intervalMs": 300}
    started = flow.start(app_host, "settle_with_retry", request)
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"settled": True, "result": {"attempt": 3}}
    events = flow.history(started)
    attempts = flow.events_of(events, "TaskFailed", "TaskCompleted")
    assert [e["EventType"] for e in attempts] == ["TaskFailed", "TaskFailed", "TaskCompleted"]
    assert all(e["FunctionName"] == "flaky_gateway" for e in attempts)
    assert "ConnectionError: gateway timeout on attempt 1" in attempts[0]["Reason"]
    assert "ConnectionError: gateway timeout on attempt 2" in attempts[1]["Reason"]
    # A durable timer of (at least) the first retry interval separates the attempts.
    timers = flow.events_of(events, "TimerFired")
    assert len(timers) == 2
    gap = date_parser.parse(attempts[1]["ScheduledTime"]) - date_parser.parse(
        attempts[0]["Timestamp"]
    )
    assert gap >= dt.timedelta(milliseconds=300)


def test_retry_options_give_up_after_the_last_attempt(app_host: HostProcess):
    request = {"key": uuid.uuid4().hex, "failures": 5, "attempts": 2, "intervalMs": 100}
    started = flow.start(app_host, "settle_with_retry", request)
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"]["settled"] is False
    error = final["output"]["error"]
    assert error.startswith("Activity function 'flaky_gateway' failed: ")
    assert "ConnectionError: gateway timeout on attempt 2" in error
    failed = flow.events_of(flow.history(started), "TaskFailed")
    assert len(failed) == 2


def test_one_failure_among_parallel_activities(app_host: HostProcess):
    started = flow.start(app_host, "settle_batch", {"accounts": ["a", "b", "closed-c", "d"]})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"]["ok"] is False
    assert final["output"]["error"].startswith("Activity function 'credit_account' failed: ")
    assert "account closed-c is closed" in final["output"]["error"]
