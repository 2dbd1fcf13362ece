"""Every ``DurableOrchestrationClient`` method of azure-functions-durable 1.7, unchanged.

Most calls run inside the sample app (``POST /api/sdk/{method}``), where the host passes the
durableClient binding; a few run here in the test, with a client built from the binding JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.utils import http_utils

from devhost.client_binding import client_binding_json
from tests.devhost.host.hostproc import WEBHOOK, HostProcess, poll


def ok(reply) -> Any:  # noqa: ANN001
    assert reply.status == 200, (reply.status, reply.body)
    return reply.json()


def error_of(reply) -> str:  # noqa: ANN001
    assert reply.status == 422, (reply.status, reply.body)
    return reply.json()["error"]


def test_start_new_get_status_and_errors(devhost: HostProcess):
    started = ok(devhost.sdk("start_new", name="chain", input={"a": 1}))
    devhost.wait_for_status(started["id"])
    status = ok(
        devhost.sdk("get_status", id=started["id"], show_history=True, show_history_output=True)
    )
    assert (status["name"], status["runtimeStatus"]) == ("chain", "Completed")
    assert status["input"] == '{"a": 1}'  # the Python client double-encodes its input
    assert status["output"][-1] == {"a": 1}  # ... and get_input() decodes it again
    assert status["historyEvents"][0]["EventType"] == "ExecutionStarted"
    assert ok(devhost.sdk("get_status", id=f"missing-{uuid.uuid4().hex}")) == {"exists": False}
    assert error_of(devhost.sdk("start_new", name="nope")).startswith(
        "The function 'nope' doesn't exist, is disabled, or is not an orchestrator function."
    )
    custom = f"sdk-{uuid.uuid4().hex}"
    assert ok(devhost.sdk("start_new", name="chain", id=custom, version="1.0"))["id"] == custom


def test_status_queries(devhost: HostProcess):
    prefix = f"sdkq-{uuid.uuid4().hex[:8]}"
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)).isoformat()
    ids = [ok(devhost.sdk("start_new", name="chain", id=f"{prefix}-{i}"))["id"] for i in range(3)]
    for instance in ids:
        devhost.wait_for_status(instance)
    waiting = ok(devhost.sdk("start_new", name="waiter", id=f"{prefix}-w"))["id"]
    devhost.wait_for_status(waiting, ("Running",))
    everything = {s["instanceId"] for s in ok(devhost.sdk("get_status_all"))}
    assert everything  # the first page (100) of the hub
    by = ok(
        devhost.sdk("get_status_by", **{"from": since, "prefix": prefix, "statuses": ["Completed"]})
    )
    assert sorted(s["instanceId"] for s in by) == sorted(ids)
    running = ok(devhost.sdk("get_status_by", prefix=prefix, statuses=["Running", "Pending"]))
    assert [s["instanceId"] for s in running] == [waiting]
    ok(devhost.sdk("terminate", id=waiting, reason="done listing"))


def test_events_terminate_suspend_resume(devhost: HostProcess):
    waiter = ok(devhost.sdk("start_new", name="waiter"))["id"]
    devhost.wait_for_status(waiter, ("Running",))
    ok(devhost.sdk("suspend", id=waiter, reason="hold on"))
    devhost.wait_for_status(waiter, ("Suspended",))
    ok(devhost.sdk("raise_event", id=waiter, event="Go", data={"ok": True}))
    ok(devhost.sdk("resume", id=waiter, reason="go on"))
    final = devhost.wait_for_status(waiter)
    assert final["output"] == {"got": '{"ok": true}'}  # the client's double encoding, as on Azure
    assert error_of(devhost.sdk("raise_event", id=waiter, event="Go")) == (
        f"Instance with ID {waiter} is gone: either completed or failed"
    )
    missing = f"missing-{uuid.uuid4().hex}"
    assert error_of(devhost.sdk("raise_event", id=missing, event="Go")) == (
        f"No instance with ID {missing} found."
    )
    assert (
        error_of(devhost.sdk("terminate", id=missing)) == f"No instance with ID '{missing}' found."
    )
    ok(devhost.sdk("terminate", id=waiter, reason="already done"))  # 410 is fine for terminate

    other = ok(devhost.sdk("start_new", name="waiter"))["id"]
    devhost.wait_for_status(other, ("Running",))
    ok(devhost.sdk("terminate", id=other, reason="stop it"))
    assert devhost.wait_for_status(other)["output"] == "stop it"


def test_rewind(devhost: HostProcess):
    failed = ok(devhost.sdk("start_new", name="rewindable", input={"key": uuid.uuid4().hex}))["id"]
    assert devhost.wait_for_status(failed)["runtimeStatus"] == "Failed"
    ok(devhost.sdk("rewind", id=failed, reason="try again"))
    assert devhost.wait_for_status(failed, ("Completed",))["output"] == {"attempt": 2}


def test_rewind_refusals_restart_and_purge(devhost: HostProcess):
    done = ok(devhost.sdk("start_new", name="chain", input="r"))["id"]
    devhost.wait_for_status(done)
    assert error_of(devhost.sdk("rewind", id=done)) == (
        "The rewind operation is only supported on failed orchestration instances."
    )
    missing = f"missing-{uuid.uuid4().hex}"
    assert error_of(devhost.sdk("rewind", id=missing)) == f"No instance with ID {missing} found."
    failed = ok(devhost.sdk("start_new", name="rewindable", input={"key": uuid.uuid4().hex}))["id"]
    assert devhost.wait_for_status(failed)["runtimeStatus"] == "Failed"

    restarted = ok(devhost.sdk("restart", id=failed))["id"]
    assert restarted != failed
    assert devhost.wait_for_status(restarted)["name"] == "rewindable"
    assert ok(devhost.sdk("restart", id=failed, new_id=False))["id"] == failed
    devhost.wait_for_status(failed)

    assert ok(devhost.sdk("purge_instance_history", id=restarted)) == {"deleted": 1}
    assert ok(devhost.sdk("purge_instance_history", id=restarted)) == {"deleted": 0}
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat()
    doomed = ok(devhost.sdk("start_new", name="failing"))["id"]
    devhost.wait_for_status(doomed)
    purged = ok(devhost.sdk("purge_instance_history_by", **{"from": since, "statuses": ["Failed"]}))
    assert purged["deleted"] >= 1
    assert devhost.status(doomed).status == 404


def test_entities_through_the_client(devhost: HostProcess):
    key = uuid.uuid4().hex
    assert ok(devhost.sdk("read_entity_state", name="counter", key=key)) == {
        "exists": False,
        "state": None,
    }
    ok(devhost.sdk("signal_entity", name="counter", key=key, op="add", input=7))
    ok(devhost.sdk("signal_entity", name="counter", key=key, op="add", input=0))  # no body
    poll(
        lambda: ok(devhost.sdk("read_entity_state", name="counter", key=key))["exists"],
        30,
        "the entity to exist",
    )
    assert ok(devhost.sdk("read_entity_state", name="counter", key=key)) == {
        "exists": True,
        "state": 7,
    }


def test_http_helpers(devhost: HostProcess):
    instance = ok(devhost.sdk("start_new", name="chain", input="w"))["id"]
    response = devhost.sdk("create_check_status_response", id=instance)
    assert response.status == 202 and response.headers["Retry-After"] == "10"
    payload = response.json()
    assert response.headers["Location"] == payload["statusQueryGetUri"]
    assert payload["rewindPostUri"] == (
        f"{devhost.base}{WEBHOOK}/instances/{instance}/rewind?reason={{text}}"
        f"&taskHub=SampleHub&connection=Storage&code={devhost.keys.system_key}"
    )
    management = ok(devhost.sdk("create_http_management_payload", id=instance))
    assert management["id"] == instance and "INSTANCEID" not in json.dumps(management)

    devhost.wait_for_status(instance)
    done = devhost.sdk("wait_for_completion_or_create_check_status_response", id=instance)
    assert (done.status, done.json()) == (200, ["Hello Tokyo!", "Greetings, Seattle", 42, "w"])
    waiter = ok(devhost.sdk("start_new", name="waiter"))["id"]
    pending = devhost.sdk(
        "wait_for_completion_or_create_check_status_response",
        id=waiter,
        timeout_ms=300,
        interval_ms=100,
    )
    assert pending.status == 202 and pending.json()["id"] == waiter
    ok(devhost.sdk("terminate", id=waiter))
    failing = ok(devhost.sdk("start_new", name="failing"))["id"]
    devhost.wait_for_status(failing)
    failed = devhost.sdk("wait_for_completion_or_create_check_status_response", id=failing)
    assert failed.status == 500 and failed.json()["runtimeStatus"] == "Failed"


@pytest.fixture
def client_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One loop for the SDK's module-wide aiohttp session (it must not hop between loops)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        asyncio.run_coroutine_threadsafe(http_utils._close_session(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_client_built_from_the_binding_json(devhost: HostProcess, client_loop):
    binding = client_binding_json(devhost.base, "SampleHub", system_key=devhost.keys.system_key)
    client = df.DurableOrchestrationClient(binding)

    def run(coroutine):  # noqa: ANN001, ANN202
        return asyncio.run_coroutine_threadsafe(coroutine, client_loop).result(60)

    instance = run(client.start_new("chain", None, [1, 2]))
    devhost.wait_for_status(instance)
    status = run(client.get_status(instance))
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed
    assert status.output[-1] == [1, 2]
    assert run(client.purge_instance_history(instance)).instances_deleted == 1
    # Without the key in its base path the SDK's calls are refused like anyone else's.
    keyless = df.DurableOrchestrationClient(client_binding_json(devhost.base, "SampleHub"))
    refused_id = f"refused-{uuid.uuid4().hex}"
    with pytest.raises(Exception, match="None"):  # the SDK surfaces a 401's empty body
        run(keyless.start_new("chain", refused_id, [1]))
    assert devhost.status(refused_id).status == 404
