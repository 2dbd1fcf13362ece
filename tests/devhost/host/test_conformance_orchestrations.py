"""Durable scenarios end to end on a real devhost: the SDK's orchestrators run unchanged."""

from __future__ import annotations

import datetime as dt
import uuid

from dateutil import parser as date_parser

from tests.devhost.host.hostproc import WEBHOOK, HostProcess, poll


def history(devhost: HostProcess, instance: str) -> list[dict]:
    query = "?showHistory=true&showHistoryOutput=true"
    return devhost.status(instance, query).json()["historyEvents"]


def moment(text: str) -> dt.datetime:
    """A history timestamp (up to 7 fraction digits, as DTFx writes them)."""
    return date_parser.parse(text)


def test_chaining(devhost: HostProcess):
    instance = devhost.start_orchestration("chain", {"a": 1})
    final = devhost.wait_for_status(instance)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == ["Hello Tokyo!", "Greetings, Seattle", 42, {"a": 1}]


def test_a_blocking_orchestrator_fails_at_the_time_limit_and_others_run_on(devhost: HostProcess):
    # The sample host allows orchestrator code 5 s (DEVHOST_ORCHESTRATOR_TIMEOUT).
    blocked = devhost.start_orchestration("blocking", {"seconds": 8})
    meanwhile = devhost.start_orchestration("chain", {"a": 2})
    assert devhost.wait_for_status(meanwhile)["runtimeStatus"] == "Completed"
    final = devhost.wait_for_status(blocked, timeout=30)
    assert final["runtimeStatus"] == "Failed"
    assert "the orchestrator function 'blocking' ran for more than 5 s" in final["output"]
    assert "must not block" in final["output"]


def test_fan_out_fan_in_of_a_thousand_activities(devhost: HostProcess):
    instance = devhost.start_orchestration("fan_out", {"count": 1000})
    final = devhost.wait_for_status(instance, timeout=120)
    assert final["output"] == {"count": 1000, "sum": 999 * 1000 // 2}
    events = history(devhost, instance)
    assert sum(e["EventType"] == "TaskCompleted" for e in events) == 1000


def test_retry_with_exact_attempts_and_delays(devhost: HostProcess):
    key = uuid.uuid4().hex
    instance = devhost.start_orchestration(
        "retry_orch", {"key": key, "failures": 2, "attempts": 3, "interval_ms": 1000}
    )
    assert devhost.wait_for_status(instance)["output"] == {"result": 3}
    events = [
        e
        for e in history(devhost, instance)
        if e["EventType"] in ("TaskFailed", "TaskCompleted", "TimerCreated", "TimerFired")
    ]
    assert [e["EventType"] for e in events] == [
        "TaskFailed",
        "TimerCreated",
        "TimerFired",
        "TaskFailed",
        "TimerCreated",
        "TimerFired",
        "TaskCompleted",
    ]
    assert [e["Reason"] for e in events if e["EventType"] == "TaskFailed"] == [
        "Activity function 'flaky' failed: RuntimeError: attempt 1 failed",
        "Activity function 'flaky' failed: RuntimeError: attempt 2 failed",
    ]
    created = [e for e in events if e["EventType"] == "TimerCreated"]
    fired = [e for e in events if e["EventType"] == "TimerFired"]
    attempts = [e for e in events if e["EventType"] in ("TaskFailed", "TaskCompleted")]
    slack = dt.timedelta(milliseconds=1)  # history times are cut to microseconds when parsed
    for failure, timer, fire, next_attempt in zip(
        attempts, created, fired, attempts[1:], strict=False
    ):
        # FireAt = the retry episode's current_utc_datetime + 1 s, and that episode starts after
        # the failure was recorded and before the timer was written: so exactly 1 s after it.
        fire_at = moment(timer["FireAt"])
        assert fire_at - moment(failure["Timestamp"]) >= dt.timedelta(seconds=1) - slack
        assert fire_at - moment(timer["Timestamp"]) <= dt.timedelta(seconds=1) + slack
        assert fire["FireAt"] == timer["FireAt"]
        assert moment(fire["Timestamp"]) >= moment(timer["FireAt"])
        assert moment(next_attempt["ScheduledTime"]) >= moment(timer["FireAt"])


def test_retry_exhausted_surfaces_the_last_failure(devhost: HostProcess):
    key = uuid.uuid4().hex
    instance = devhost.start_orchestration(
        "retry_orch", {"key": key, "failures": 5, "attempts": 2, "interval_ms": 200}
    )
    output = devhost.wait_for_status(instance)["output"]
    assert output["error"].startswith(
        "Activity function 'flaky' failed: RuntimeError: attempt 2 failed \n "
    )
    events = history(devhost, instance)
    assert sum(e["EventType"] == "TaskFailed" for e in events) == 2
    assert sum(e["EventType"] == "TimerFired" for e in events) == 2  # incl. the final dummy timer


def test_durable_timer(devhost: HostProcess):
    instance = devhost.start_orchestration("timer_orch", {"seconds": 2})
    devhost.wait_for_status(instance, ("Running",))
    final = devhost.wait_for_status(instance)
    fire_at = dt.datetime.fromisoformat(final["output"]["fired_at"])
    fired = next(e for e in history(devhost, instance) if e["EventType"] == "TimerFired")
    assert moment(fired["Timestamp"]) >= fire_at
    started = moment(history(devhost, instance)[0]["Timestamp"])
    assert (fire_at - started).total_seconds() >= 1.9


def test_external_event_wins_against_the_timer(devhost: HostProcess):
    instance = devhost.start_orchestration("approval", {"timeout": 60})
    devhost.wait_for_status(instance, ("Running",))
    devhost.call("POST", f"{WEBHOOK}/instances/{instance}/raiseEvent/Approval", {"ok": True})
    assert devhost.wait_for_status(instance)["output"] == {"approved": {"ok": True}}


def test_timer_wins_when_no_event_comes(devhost: HostProcess):
    instance = devhost.start_orchestration("approval", {"timeout": 1})
    assert devhost.wait_for_status(instance)["output"] == {"approved": None, "timed_out": True}


def test_sub_orchestrations_with_and_without_retry(devhost: HostProcess):
    instance = devhost.start_orchestration("parent_orch", {"key": uuid.uuid4().hex})
    final = devhost.wait_for_status(instance)
    assert final["output"] == {
        "child": {"doubled": 8, "parent": instance},
        "retried": {"attempt": 2},
    }
    child = devhost.wait_for_status(f"{instance}-child")
    assert (child["name"], child["runtimeStatus"]) == ("child_orch", "Completed")
    events = history(devhost, instance)
    assert sum(e["EventType"] == "SubOrchestrationInstanceFailed" for e in events) == 1
    assert sum(e["EventType"] == "SubOrchestrationInstanceCompleted" for e in events) == 2


def test_eternal_orchestration_continues_as_new(devhost: HostProcess):
    instance = devhost.start_orchestration("eternal", {"n": 0})
    final = devhost.wait_for_status(instance)
    assert final["output"] == {"final": 3}
    assert final["customStatus"] == {"n": 3}
    assert final["input"] == '{"n": 3}'  # the last generation's input: the SDK's JSON text
    assert [e["EventType"] for e in history(devhost, instance)][0] == "ExecutionStarted"


def test_terminate(devhost: HostProcess):
    instance = devhost.start_orchestration("waiter")
    devhost.wait_for_status(instance, ("Running",))
    devhost.call("POST", f"{WEBHOOK}/instances/{instance}/terminate?reason=stop")
    final = devhost.wait_for_status(instance)
    assert (final["runtimeStatus"], final["output"]) == ("Terminated", "stop")


def test_custom_status_follows_the_orchestrator(devhost: HostProcess):
    instance = devhost.start_orchestration("waiter")
    poll(
        lambda: devhost.status(instance).json()["customStatus"] == {"stage": "waiting"},
        30,
        "custom status 'waiting'",
    )
    devhost.call("POST", f"{WEBHOOK}/instances/{instance}/raiseEvent/Go", "now")
    final = devhost.wait_for_status(instance)
    assert final["customStatus"] == {"stage": "done"} and final["output"] == {"got": "now"}


def test_orchestrator_exceptions_surface_with_the_sdk_text(devhost: HostProcess):
    failing = devhost.start_orchestration("failing")
    final = devhost.wait_for_status(failing)
    assert final["runtimeStatus"] == "Failed"
    assert final["output"] == "Orchestrator function 'failing' failed: boom in orchestrator"
    activity = devhost.start_orchestration("activity_fails")
    output = devhost.wait_for_status(activity)["output"]
    assert output.startswith(
        "Orchestrator function 'activity_fails' failed: "
        "Activity function 'explode' failed: ValueError: bad input"
    )


def test_entities_signal_call_and_read(devhost: HostProcess):
    key = uuid.uuid4().hex
    instance = devhost.start_orchestration("entity_orch", {"key": key})
    assert devhost.wait_for_status(instance)["output"] == 15
    assert devhost.call("GET", f"{WEBHOOK}/entities/counter/{key}").json() == 15
    events = history(devhost, instance)
    assert sum(e["EventType"] == "EventSent" for e in events) == 3  # one signal, two calls
