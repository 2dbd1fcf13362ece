"""Monitor (apps/monitor): create_timer + activity in a loop, progress in customStatus."""

from __future__ import annotations

import json
import uuid

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess, poll

APP = "monitor"


def job(**settings: object) -> dict:
    return {"jobId": uuid.uuid4().hex[:8], "intervalMs": 400, "expirySeconds": 20, **settings}


def watch(started: dict, timeout: float = 30) -> tuple[dict, list]:
    """Poll the status URL until the instance finishes; return it and every customStatus seen
    while it was still running."""
    seen: list = []

    def finished() -> dict | None:
        body = flow.status(started).json()
        if body["runtimeStatus"] in flow.RUNNING:
            if body["customStatus"] is not None and body["customStatus"] not in seen:
                seen.append(body["customStatus"])
            return None
        return body

    return poll(finished, timeout, f"{started['id']} to finish", interval=0.02), seen


def test_while_loop_monitor_publishes_progress_until_the_job_completes(app_host: HostProcess):
    settings = job(completesAfter=3)
    started = flow.start(app_host, "job_monitor", settings)
    final, seen = watch(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {
        "checks": 3,
        "outcome": "completed",
        "alert": f"job {settings['jobId']} is done",
    }
    assert final["customStatus"] == {"checks": 3, "jobStatus": "Completed"}
    # Each check is visible through the status URL while the monitor sleeps on its timer.
    assert {"checks": 1, "jobStatus": "Running"} in seen
    assert {"checks": 2, "jobStatus": "Running"} in seen
    assert [s["checks"] for s in seen] == sorted(s["checks"] for s in seen)

    events = flow.history(started)
    names = [e["FunctionName"] for e in flow.events_of(events, "TaskCompleted")]
    assert names == ["get_job_status"] * 3 + ["send_alert"]
    created = flow.events_of(events, "TimerCreated")
    fired = flow.events_of(events, "TimerFired")
    assert len(created) == len(fired) == 2
    assert [e["FireAt"] for e in fired] == [e["FireAt"] for e in created]


def test_monitor_gives_up_at_its_expiry(app_host: HostProcess):
    started = flow.start(app_host, "job_monitor", job(completesAfter=None, expirySeconds=1))
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"]["outcome"] == "expired"
    checks = final["output"]["checks"]
    assert 2 <= checks <= 3  # a check, then at least 0.4 s of timer, until 1 s has passed
    assert final["customStatus"] == {"checks": checks, "jobStatus": "Unknown"}
    events = flow.history(started)
    assert len(flow.events_of(events, "TaskCompleted")) == checks
    assert len(flow.events_of(events, "TimerFired")) == checks


def test_eternal_monitor_continues_as_new(app_host: HostProcess):
    settings = job(completesAfter=3)
    started = flow.start(app_host, "job_monitor_eternal", settings)
    final, seen = watch(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {
        "checks": 3,
        "outcome": "completed",
        "alert": f"job {settings['jobId']} is done",
    }
    assert final["customStatus"] == {"checks": 3, "jobStatus": "Completed"}
    assert {"checks": 1, "jobStatus": "Running"} in seen
    # The instance keeps its id; its input is the last generation's (the SDK's JSON text).
    assert final["instanceId"] == started["id"]
    assert final["input"] == json.dumps({**settings, "checks": 2})
    # The history is the last generation's only: one check, the alert, no timer.
    events = flow.history(started)
    assert events[0]["EventType"] == "ExecutionStarted"
    names = [e["FunctionName"] for e in flow.events_of(events, "TaskCompleted")]
    assert names == ["get_job_status", "send_alert"]
    assert flow.events_of(events, "TimerFired") == []
