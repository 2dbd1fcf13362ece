"""call_http end to end: a real devhost process, a real app and a real endpoint it calls.

The endpoint (:class:`HttpReceiver`, in this process) accepts a job with 202 + Location +
Retry-After: 1, answers 202 (no Retry-After) to every poll until the test lets the job finish,
and answers 200 and 500 elsewhere. The host is killed between two polls and started again.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from devhost.app import AppLoadError, read_host_json
from tests.devhost.host.hostproc import HostProcess, poll
from tests.support.http_receiver import Answer, HttpReceiver, ReceivedRequest
from tests.support.servers import free_port

APP = Path(__file__).parent / "callhttp_app"
HTTP = "BuiltIn::HttpActivity"
JOB = "/jobs/7"


class JobEndpoint:
    def __init__(self) -> None:
        self.finished = threading.Event()

    def __call__(self, request: ReceivedRequest) -> Answer:
        base = f"http://{request.headers['host']}"
        if request.method == "POST" and request.path == "/jobs":
            accepted = [("Location", base + JOB), ("Retry-After", "1")]
            return 202, [*accepted, ("Content-Type", "application/json")], b'{"id": 7}'
        if request.method == "GET" and request.path == JOB:
            if self.finished.is_set():
                return 200, [("Content-Type", "text/plain")], b"job 7 done"
            return 202, [("Location", base + JOB)], b""
        if request.path == "/ok":
            return 200, [("X-Ok", "yes"), ("Content-Type", "application/json")], b'{"ok": 1}'
        if request.path == "/broken":
            return 500, [], b"the endpoint broke"
        return 404, [], b""


def _history(host: HostProcess, instance_id: str) -> list[dict[str, Any]]:
    reply = host.status(instance_id, "?showHistory=true&showHistoryOutput=true")
    events: list[dict[str, Any]] = reply.json()["historyEvents"]
    return events


def test_call_http_polled_by_the_orchestrator_survives_a_host_restart(tmp_path):
    endpoint = JobEndpoint()
    with HttpReceiver(endpoint) as receiver:
        host = HostProcess.start(APP, tmp_path / "data")
        try:
            instance_id = host.start_orchestration("http_chain", {"base": receiver.base})
            polls = lambda: [r for r in receiver.requests if r.path == JOB]  # noqa: E731
            poll(lambda: len(polls()) >= 2, 30, "two polls of the job")
            host.kill()  # between two polls: the next one is a timer away
            polled_before_restart = len(polls())
            endpoint.finished.set()
            host.port = free_port()
            host.launch()
            status = host.wait_for_status(instance_id, timeout=60)
            history = _history(host, instance_id)
        finally:
            host.stop()

    assert status["runtimeStatus"] == "Completed", status
    output = status["output"]
    assert output["polls"] >= polled_before_restart >= 2
    assert output == {
        "accepted": 202,
        "polls": output["polls"],
        "shouted": "JOB 7 DONE",
        "ok": [200, "yes", '{"ok": 1}'],
        "default_sleep_ms": 1000,  # host.json httpSettings.defaultAsyncRequestSleepTimeMilliseconds
    }

    first, *rest = receiver.requests
    assert (first.method, first.path, first.body) == ("POST", "/jobs", b'{"job": 7}')
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-custom"] == "fleet"
    job_polls = [r for r in rest if r.path == JOB]
    assert all(
        (r.method, r.body, r.headers["content-type"]) == ("GET", b"", None) for r in job_polls
    )
    # A poll in flight when the host died runs again after the restart (at least once).
    assert len(job_polls) >= output["polls"]
    assert [(r.method, r.path) for r in rest if r.path != JOB] == [("GET", "/ok")]

    completed = [e for e in history if e["EventType"] == "TaskCompleted"]
    assert [e["FunctionName"] for e in completed] == [HTTP] * (1 + output["polls"]) + [
        "shout",
        HTTP,
    ]
    assert [e["Result"]["statusCode"] for e in completed if e["FunctionName"] == HTTP] == (
        [202] * output["polls"] + [200, 200]
    )
    timers = [e for e in history if e["EventType"] == "TimerFired"]
    assert len(timers) == output["polls"]
    assert not any(e["EventType"] == "TaskFailed" for e in history)


def test_call_http_failures_reach_the_orchestrator_as_the_extension_reports_them(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with HttpReceiver(JobEndpoint()) as receiver:
        host = HostProcess.start(APP, tmp_path / "data")
        try:
            payload = {"base": receiver.base, "closed": closed}
            instance_id = host.start_orchestration("http_failures", payload)
            status = host.wait_for_status(instance_id, timeout=60)
        finally:
            host.stop()

    assert status["runtimeStatus"] == "Completed", status
    output = status["output"]
    assert output["broken"] == [500, "the endpoint broke"]
    port = closed.rsplit(":", 1)[1]
    reason, details = output["refused"].split(" \n ", 1)
    assert reason == f"Connection refused (127.0.0.1:{port})"
    assert json.loads(details)["ClassName"] == "System.Net.Http.HttpRequestException"
    reason = (
        f"devhost cannot call {receiver.base}/arm with a managed identity token for resource "
        "'https://vault.azure.net' (call_http token_source, kind 'AzureManagedIdentity'): "
        "managed identities exist only on Azure, so the request was not sent. Get a token in an "
        "activity (e.g. azure.identity's DefaultAzureCredential after 'az login') and pass it in "
        "an 'Authorization: Bearer <token>' header instead."
    )
    assert output["managed_identity"] == (
        f"{reason} \n Unhandled exception while executing task: "
        f"Azure.Identity.CredentialUnavailableException: {reason}"
    )
    assert [(r.method, r.path) for r in receiver.requests] == [("GET", "/broken")]


def _host_json(folder: Path, durable: dict[str, Any]) -> Path:
    text = {"version": "2.0", "extensions": {"durableTask": durable}}
    (folder / "host.json").write_text(json.dumps(text))
    return folder


def test_the_default_async_sleep_comes_from_host_json(tmp_path):
    assert read_host_json(APP, {}).http_async_sleep_ms == 1000
    assert read_host_json(_host_json(tmp_path, {}), {}).http_async_sleep_ms == 30000
    bad = {"httpSettings": {"defaultAsyncRequestSleepTimeMilliseconds": "soon"}}
    with pytest.raises(AppLoadError) as refused:
        read_host_json(_host_json(tmp_path, bad), {})
    assert str(refused.value) == (
        "host.json extensions.durableTask.httpSettings.defaultAsyncRequestSleepTimeMilliseconds "
        "must be a whole number of milliseconds >= 0, not 'soon'"
    )
