"""Terminate and purge through the URIs of the starter's 202 payload (apps/human_interaction:
an approval that waits long enough to be terminated)."""

from __future__ import annotations

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess, poll

APP = "human_interaction"


def waiting(host: HostProcess, requester: str) -> dict:
    request = {"requester": requester, "amount": 1, "timeoutSeconds": 60}
    started = flow.start(host, "approval_workflow", request)
    poll(
        lambda: flow.status(started).json()["customStatus"] is not None,
        30,
        "the approval to wait",
    )
    return started


def test_terminate_a_waiting_instance(app_host: HostProcess):
    started = waiting(app_host, "henry")
    running = flow.status(started)
    assert running.status == 202 and running.json()["runtimeStatus"] == "Running"
    terminated = flow.terminate(started, "no longer needed")
    assert (terminated.status, terminated.body) == (202, b"")
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Terminated"
    assert final["output"] == "no longer needed"
    # The last custom status stays.
    assert final["customStatus"] == {"state": "awaiting approval", "attempts": 0}
    # A finished instance takes no more commands or events.
    assert flow.terminate(started, "again").status == 410
    assert flow.raise_event(started, "ApprovalResponse", {"code": 1}).status == 410


def test_purge_a_finished_instance(app_host: HostProcess):
    started = waiting(app_host, "iris")
    assert flow.terminate(started, "cleanup").status == 202
    assert flow.wait(started)["runtimeStatus"] == "Terminated"
    purged = flow.purge(started)
    assert purged.status == 200
    assert purged.json() == {"instancesDeleted": 1}
    gone = flow.status(started)
    assert (gone.status, gone.body) == (404, b"")
    assert flow.purge(started).status == 404
    assert flow.terminate(started, "late").status == 404
    assert flow.raise_event(started, "ApprovalResponse", {"code": 1}).status == 404


def test_purge_a_completed_instance_and_its_history(app_host: HostProcess):
    request = {"requester": "jack", "amount": 3, "timeoutSeconds": 1}
    started = flow.start(app_host, "approval_workflow", request)
    assert flow.wait(started)["runtimeStatus"] == "Completed"
    assert flow.history(started)
    assert flow.purge(started).json() == {"instancesDeleted": 1}
    assert flow.status(started, "&showHistory=true").status == 404
