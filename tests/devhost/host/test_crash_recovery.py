"""SIGKILL the host in the middle of a fan-out and of a timer wait; a restart finishes both."""

from __future__ import annotations

from dateutil import parser as date_parser

from tests.devhost.host.hostproc import SAMPLE_APP, HostProcess, poll
from tests.support.servers import free_port

HISTORY = "?showHistory=true"


def completed_activities(host: HostProcess, instance: str) -> int:
    reply = host.status(instance, HISTORY)
    events = reply.json().get("historyEvents") or []
    return sum(e["EventType"] == "TaskCompleted" for e in events)


def test_orchestrations_survive_a_killed_host(tmp_path):
    host = HostProcess.start(SAMPLE_APP, tmp_path / "data")
    try:
        fan_out = host.start_orchestration(
            "fan_out", {"count": 500, "activity": "sleep_ms", "arg": 30}
        )
        timer = host.start_orchestration("timer_orch", {"seconds": 4})

        def timer_created() -> bool:
            events = host.status(timer, HISTORY).json().get("historyEvents") or []
            return any(e["EventType"] == "TimerCreated" for e in events)

        poll(timer_created, 30, "the timer to be created")
        done = poll(lambda: max(0, completed_activities(host, fan_out) - 49), 60, "50 activities")
        host.kill()
        assert done + 49 < 500, "the fan-out finished before the crash; nothing was tested"

        host.port = free_port()
        host.launch()
        assert host.status(fan_out).json()["runtimeStatus"] == "Running"
        fanned = host.wait_for_status(fan_out, timeout=120)
        assert (fanned["runtimeStatus"], fanned["output"]) == (
            "Completed",
            {"count": 500, "sum": 500 * 30},
        )
        assert completed_activities(host, fan_out) == 500

        waited = host.wait_for_status(timer, timeout=60)
        assert waited["runtimeStatus"] == "Completed"
        fire_at = date_parser.parse(waited["output"]["fired_at"])
        events = host.status(timer, HISTORY).json()["historyEvents"]
        fired = [e for e in events if e["EventType"] == "TimerFired"]
        assert len(fired) == 1 and date_parser.parse(fired[0]["Timestamp"]) >= fire_at
    finally:
        host.stop()
