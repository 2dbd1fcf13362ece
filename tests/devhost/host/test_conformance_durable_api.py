"""The Durable Functions HTTP API over real HTTP: every endpoint, status code and field of §5."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from tests.devhost.host.hostproc import WEBHOOK, HostProcess, call, poll

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CHECK_STATUS_KEYS = {
    "id",
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
}
STATUS_KEYS = {
    "name",
    "instanceId",
    "runtimeStatus",
    "input",
    "customStatus",
    "output",
    "createdTime",
    "lastUpdatedTime",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_start_answers_the_check_status_pattern(devhost: HostProcess):
    reply = devhost.call("POST", f"{WEBHOOK}/orchestrators/chain", {"a": 1})
    assert reply.status == 202
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.headers["Retry-After"] == "10"
    body = reply.json()
    assert set(body) == CHECK_STATUS_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    prefix = f"{devhost.base}{WEBHOOK}/instances/{body['id']}"
    # As on Azure, every URL carries the system key, so it works as it is.
    suffix = f"taskHub=SampleHub&connection=Storage&code={devhost.keys.system_key}"
    assert reply.headers["Location"] == body["statusQueryGetUri"] == f"{prefix}?{suffix}"
    assert body["sendEventPostUri"] == f"{prefix}/raiseEvent/{{eventName}}?{suffix}"
    assert body["terminatePostUri"] == f"{prefix}/terminate?reason={{text}}&{suffix}"
    assert body["purgeHistoryDeleteUri"] == f"{prefix}?{suffix}"
    assert body["restartPostUri"] == f"{prefix}/restart?{suffix}"
    assert body["suspendPostUri"] == f"{prefix}/suspend?reason={{text}}&{suffix}"
    assert body["resumePostUri"] == f"{prefix}/resume?reason={{text}}&{suffix}"
    done = call("GET", body["statusQueryGetUri"])  # no key but the URL's
    final = devhost.wait_for_status(body["id"])
    assert done.status in (200, 202) and done.json()["instanceId"] == body["id"]
    assert final["output"] == ["Hello Tokyo!", "Greetings, Seattle", 42, {"a": 1}]
    assert final["input"] == {"a": 1}  # a raw HTTP start stores an object


def test_start_with_an_instance_id_and_its_rules(devhost: HostProcess):
    instance_id = unique("my id")
    reply = devhost.call("POST", f"{WEBHOOK}/orchestrators/chain/{instance_id.replace(' ', '+')}")
    assert reply.status == 202 and reply.json()["id"] == instance_id
    assert f"/instances/{instance_id.replace(' ', '+')}?" in reply.json()["statusQueryGetUri"]
    assert devhost.wait_for_status(instance_id)["input"] is None
    for bad in ("@entity-like", "x" * 257):
        refused = devhost.call("POST", f"{WEBHOOK}/orchestrators/chain/{bad}")
        assert refused.status == 400, bad
        assert refused.json()["Message"] == "One or more of the arguments submitted is incorrect"
    unknown = devhost.call("POST", f"{WEBHOOK}/orchestrators/nope")
    assert unknown.status == 400
    assert unknown.json()["ExceptionMessage"].startswith(
        "The function 'nope' doesn't exist, is disabled, or is not an orchestrator function."
    )
    assert "'chain'" in unknown.json()["ExceptionMessage"]
    invalid = devhost.call(
        "POST",
        f"{WEBHOOK}/orchestrators/chain",
        raw=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert invalid.status == 400 and invalid.json()["Message"] == "Invalid JSON content"
    running = unique("running")
    devhost.start_orchestration("waiter", None, running)
    duplicate = devhost.call("POST", f"{WEBHOOK}/orchestrators/waiter/{running}")
    assert duplicate.status == 500
    assert duplicate.json()["Message"] == "Something went wrong while processing your request"
    devhost.call("POST", f"{WEBHOOK}/instances/{running}/terminate?reason=cleanup")


def test_start_and_wait(devhost: HostProcess):
    done = devhost.call(
        "POST", f"{WEBHOOK}/orchestrators/chain?timeout=30&pollingInterval=0.1", {"v": "x"}
    )
    assert done.status == 200
    assert done.json() == ["Hello Tokyo!", "Greetings, Seattle", 42, {"v": "x"}]
    failed = devhost.call("POST", f"{WEBHOOK}/orchestrators/failing?TIMEOUT=30&PollingInterval=0.1")
    assert failed.status == 200 and failed.json()["runtimeStatus"] == "Failed"
    waiting = devhost.call(
        "POST", f"{WEBHOOK}/orchestrators/waiter?timeout=0.5&pollingInterval=0.1"
    )
    assert waiting.status == 202 and set(waiting.json()) == CHECK_STATUS_KEYS
    devhost.call("POST", f"{WEBHOOK}/instances/{waiting.json()['id']}/terminate")


def test_status_codes_headers_and_payload(devhost: HostProcess):
    missing = devhost.status(unique("missing"))
    assert (missing.status, missing.body) == (404, b"")
    waiter = devhost.start_orchestration("waiter", {"n": 1})
    poll(
        lambda: devhost.status(waiter).json()["customStatus"] == {"stage": "waiting"},
        30,
        "the waiter to set its custom status",
    )
    running = devhost.status(waiter, "?showInput=false")
    assert running.status == 202
    assert (
        running.headers["Location"] == f"{devhost.base}{WEBHOOK}/instances/{waiter}?showInput=false"
    )
    assert running.headers["Retry-After"] == "5"
    body = running.json()
    assert set(body) == STATUS_KEYS
    assert (body["name"], body["instanceId"], body["runtimeStatus"]) == (
        "waiter",
        waiter,
        "Running",
    )
    assert body["input"] is None and body["output"] is None
    assert TIME.match(body["createdTime"]) and TIME.match(body["lastUpdatedTime"])
    assert devhost.status(waiter).json()["input"] == {"n": 1}
    devhost.call("POST", f"{WEBHOOK}/instances/{waiter}/raiseEvent/Go", {"ok": True})
    final = devhost.wait_for_status(waiter)
    assert final["output"] == {"got": {"ok": True}} and final["customStatus"] == {"stage": "done"}
    completed = devhost.status(waiter)
    assert completed.status == 200 and "Location" not in completed.headers

    failed = devhost.start_orchestration("failing")
    devhost.wait_for_status(failed)
    assert devhost.status(failed).status == 200
    as_error = devhost.status(failed, "?returnInternalServerErrorOnFailure=true")
    assert as_error.status == 500
    assert (
        as_error.json()["output"] == "Orchestrator function 'failing' failed: boom in orchestrator"
    )


def test_history_events(devhost: HostProcess):
    instance = devhost.start_orchestration("chain", {"v": "h"})
    devhost.wait_for_status(instance)
    plain = devhost.status(instance, "?SHOWHISTORY=True").json()  # names are case-insensitive
    events = plain["historyEvents"]
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TaskCompleted",
        "TaskCompleted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    assert events[0]["FunctionName"] == "chain"
    assert not any({"EventId", "IsPlayed", "TaskScheduledId"} & set(e) for e in events)
    first = events[1]
    assert first["FunctionName"] == "hello_activity" and first["Input"] == '"Tokyo"'
    assert "ScheduledTime" in first and "Result" not in first
    assert events[-1]["OrchestrationStatus"] == "Completed" and "Result" not in events[-1]
    detailed = devhost.status(instance, "?showHistory=true&showHistoryOutput=true&showInput=false")
    events = detailed.json()["historyEvents"]
    assert events[1]["Result"] == "Hello Tokyo!" and "Input" not in events[1]
    assert events[-1]["Result"] == ["Hello Tokyo!", "Greetings, Seattle", 42, {"v": "h"}]
    assert detailed.json()["input"] is None


def test_list_filters_and_continuation(devhost: HostProcess):
    prefix = unique("list")
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    ids = [devhost.start_orchestration("chain", None, f"{prefix}-{i}") for i in range(5)]
    stopped = devhost.start_orchestration("waiter", None, f"{prefix}-waiting")
    for instance in ids:
        devhost.wait_for_status(instance)
    devhost.call("POST", f"{WEBHOOK}/instances/{stopped}/terminate?reason=listed")
    devhost.wait_for_status(stopped)
    listed = devhost.call("GET", f"{WEBHOOK}/instances/?instanceIdPrefix={prefix}")
    # One page holds them all: no continuation token is answered.
    assert listed.status == 200 and "x-ms-continuation-token" not in listed.headers
    assert {s["instanceId"] for s in listed.json()} == {*ids, stopped}
    assert all(set(s) == STATUS_KEYS for s in listed.json())
    only = devhost.call(
        "GET", f"{WEBHOOK}/instances/?instanceIdPrefix={prefix}&runtimeStatus=Terminated"
    ).json()
    assert [s["instanceId"] for s in only] == [stopped]
    both = devhost.call(
        "GET",
        f"{WEBHOOK}/instances/?instanceIdPrefix={prefix}"
        "&runtimeStatus=Terminated,Running&runtimeStatus=Completed",
    ).json()
    assert len(both) == 6
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert (
        devhost.call(
            "GET", f"{WEBHOOK}/instances/?instanceIdPrefix={prefix}&createdTimeFrom={future}"
        ).json()
        == []
    )
    window = (
        f"&createdTimeFrom={since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        f"&createdTimeTo={future}&showInput=false"
    )
    assert (
        len(devhost.call("GET", f"{WEBHOOK}/instances/?instanceIdPrefix={prefix}{window}").json())
        == 6
    )
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = devhost.call(
            "GET",
            f"{WEBHOOK}/instances/?instanceIdPrefix={prefix}&top=2",
            headers={"x-ms-continuation-token": token} if token else None,
        )
        assert page.status == 200 and len(page.json()) <= 2
        seen += [s["instanceId"] for s in page.json()]
        token = page.headers.get("x-ms-continuation-token")
        if token is None:
            break
        assert token
    assert sorted(seen) == sorted({*ids, stopped})


def test_purge(devhost: HostProcess):
    prefix = unique("purge")
    one = devhost.start_orchestration("chain", None, f"{prefix}-one")
    devhost.wait_for_status(one)
    deleted = devhost.call("DELETE", f"{WEBHOOK}/instances/{one}")
    assert (deleted.status, deleted.json()) == (200, {"instancesDeleted": 1})
    assert devhost.status(one).status == 404
    assert devhost.call("DELETE", f"{WEBHOOK}/instances/{one}").status == 404
    refused = devhost.call("DELETE", f"{WEBHOOK}/instances/")
    assert (refused.status, refused.json()) == (
        400,
        "Please provide value for 'createdTimeFrom' parameter.",
    )
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    keep = devhost.start_orchestration("waiter", None, f"{prefix}-keep")
    gone = [devhost.start_orchestration("chain", None, f"{prefix}-{i}") for i in range(3)]
    for instance in gone:
        devhost.wait_for_status(instance)
    devhost.wait_for_status(keep, ("Running",))
    # Only this test's Failed instances would match: none exist, so nothing is purged: 404.
    none = devhost.call(
        "DELETE", f"{WEBHOOK}/instances/?createdTimeFrom={since}&runtimeStatus=Canceled"
    )
    assert (none.status, none.body) == (404, b"")
    purged = devhost.call(
        "DELETE", f"{WEBHOOK}/instances/?createdTimeFrom={since}&runtimeStatus=Completed"
    )
    assert purged.status == 200 and purged.json()["instancesDeleted"] >= 3
    assert all(devhost.status(instance).status == 404 for instance in gone)
    assert devhost.status(keep).status == 202
    devhost.call("POST", f"{WEBHOOK}/instances/{keep}/terminate")


def test_raise_event_rules(devhost: HostProcess):
    waiter = devhost.start_orchestration("waiter")
    path = f"{WEBHOOK}/instances/{waiter}/raiseEvent/Go"
    plain = devhost.call("POST", path, raw=b"{}", headers={"Content-Type": "text/plain"})
    assert plain.status == 400
    assert plain.json() == {"Message": "Only application/json request content is supported"}
    broken = devhost.call("POST", path, raw=b"{", headers={"Content-Type": "application/json"})
    assert broken.status == 400 and broken.json()["Message"] == "Invalid JSON content"
    assert (
        devhost.call("POST", f"{WEBHOOK}/instances/{unique('x')}/raiseEvent/Go", {}).status == 404
    )
    accepted = devhost.call("POST", path, [1, 2])
    assert (accepted.status, accepted.body) == (202, b"")
    assert devhost.wait_for_status(waiter)["output"] == {"got": [1, 2]}
    assert devhost.call("POST", path, {}).status == 410


def test_terminate_suspend_resume(devhost: HostProcess):
    unknown = unique("unknown")
    for operation in ("terminate", "suspend", "resume", "rewind"):
        assert devhost.call("POST", f"{WEBHOOK}/instances/{unknown}/{operation}").status == 404
    waiter = devhost.start_orchestration("waiter")
    devhost.wait_for_status(waiter, ("Running",))
    suspended = devhost.call("POST", f"{WEBHOOK}/instances/{waiter}/suspend?reason=pause")
    assert (suspended.status, suspended.body) == (202, b"")
    assert devhost.wait_for_status(waiter, ("Suspended",))["runtimeStatus"] == "Suspended"
    assert devhost.status(waiter).status == 202
    assert devhost.call("POST", f"{WEBHOOK}/instances/{waiter}/raiseEvent/Go", "held").status == 202
    assert devhost.status(waiter).json()["runtimeStatus"] == "Suspended"
    assert devhost.call("POST", f"{WEBHOOK}/instances/{waiter}/RESUME?reason=go").status == 202
    assert devhost.wait_for_status(waiter)["output"] == {"got": "held"}
    for operation in ("terminate", "suspend", "resume"):
        assert devhost.call("POST", f"{WEBHOOK}/instances/{waiter}/{operation}").status == 410
    assert devhost.call("POST", f"{WEBHOOK}/instances/{waiter}/explode").status == 404

    other = devhost.start_orchestration("waiter")
    reply = devhost.call("POST", f"{WEBHOOK}/instances/{other}/terminate?reason=enough%20now")
    assert reply.status == 202
    final = devhost.wait_for_status(other)
    assert (final["runtimeStatus"], final["output"]) == ("Terminated", "enough now")


def test_rewind_of_a_failed_instance(devhost: HostProcess):
    failed = devhost.start_orchestration("rewindable", {"key": unique("rw")})
    assert devhost.wait_for_status(failed)["runtimeStatus"] == "Failed"
    reply = devhost.call("POST", f"{WEBHOOK}/instances/{failed}/rewind?reason=retry")
    assert reply.status == 202, reply.body
    assert devhost.wait_for_status(failed, ("Completed",))["output"] == {"attempt": 2}


def test_rewind_refusals(devhost: HostProcess):
    completed = devhost.start_orchestration("chain", {"v": 1})
    devhost.wait_for_status(completed)
    assert devhost.call("POST", f"{WEBHOOK}/instances/{completed}/rewind").status == 410
    running = devhost.start_orchestration("waiter")
    devhost.wait_for_status(running, ("Running",))
    refused = devhost.call("POST", f"{WEBHOOK}/instances/{running}/rewind")
    assert refused.status == 500
    assert refused.json()["ExceptionType"] == "System.InvalidOperationException"
    devhost.call("POST", f"{WEBHOOK}/instances/{running}/terminate")
    failed = devhost.start_orchestration("rewindable", {"key": unique("rw")})
    devhost.wait_for_status(failed)
    answer = devhost.call("POST", f"{WEBHOOK}/instances/{failed}/rewind")
    assert answer.status in (202, 501)  # 501 (with a code) while the engine cannot rewind
    if answer.status == 501:
        assert answer.json()["code"] == "RewindNotSupported"


def test_restart(devhost: HostProcess):
    original = devhost.start_orchestration("chain", {"v": "again"})
    devhost.wait_for_status(original)
    restarted = devhost.call("POST", f"{WEBHOOK}/instances/{original}/restart")
    assert restarted.status == 202
    new_id = restarted.json()
    assert isinstance(new_id, str) and new_id != original
    assert restarted.headers["Location"].startswith(f"{devhost.base}{WEBHOOK}/instances/{new_id}?")
    assert restarted.headers["Retry-After"] == "10"
    assert devhost.wait_for_status(new_id)["output"][-1] == {"v": "again"}
    same = devhost.call(
        "POST", f"{WEBHOOK}/instances/{original}/restart?restartWithNewInstanceId=false"
    )
    assert (same.status, same.json()) == (202, original)
    assert devhost.wait_for_status(original)["runtimeStatus"] == "Completed"
    waited = devhost.call(
        "POST", f"{WEBHOOK}/instances/{original}/restart?timeout=30&pollingInterval=0.1"
    )
    assert waited.status == 200 and waited.json()[-1] == {"v": "again"}
    unknown = devhost.call("POST", f"{WEBHOOK}/instances/{unique('nobody')}/restart")
    assert unknown.status == 400
    assert unknown.json()["Message"] == "InstanceId does not match a valid orchestration instance."


def test_entity_signal_with_a_json_body(devhost: HostProcess):
    path = f"{WEBHOOK}/entities/counter/{unique('json')}"
    # The SDK's client sends json.dumps(json.dumps(5)): a JSON string holding the JSON text.
    added = devhost.call("POST", f"{path}?op=add", "5")
    assert (added.status, added.body) == (202, b"")
    # A raw JSON number is stored as the JSON text '7': the SDK's get_input() decodes twice and
    # fails on it, as on Azure, so this operation fails and leaves the state alone.
    devhost.call("POST", f"{path}?op=add", 7)
    # Operations run in order, in one batch or more: the state passes 5 on its way to 6.
    devhost.call("POST", f"{path}?op=add", raw=b"1", headers={"Content-Type": "text/plain"})

    def state() -> object:
        reply = devhost.call("GET", path)
        return reply.json() if reply.status == 200 else None

    poll(lambda: state() == 6, 30, "the entity to hold 5 + 1")


def test_entities(devhost: HostProcess):
    key = unique("k")
    path = f"{WEBHOOK}/entities/counter/{key}"
    assert devhost.call("GET", path).status == 404
    for body in (b"5", b"3"):  # a non-JSON body is passed to the entity as a string
        added = devhost.call(
            "POST", f"{path}?OP=add", raw=body, headers={"Content-Type": "text/plain"}
        )
        assert (added.status, added.body) == (202, b"")
    poll(lambda: devhost.call("GET", path).status == 200, 30, "the entity to exist")
    poll(lambda: devhost.call("GET", path).json() == 8, 30, "both adds")
    listed = devhost.call("GET", f"{WEBHOOK}/entities/counter?fetchState=true&top=1000")
    assert listed.status == 200 and "x-ms-continuation-token" not in listed.headers
    mine = [e for e in listed.json() if e["entityId"] == {"name": "counter", "key": key}]
    assert len(mine) == 1 and mine[0]["state"] == 8 and mine[0]["lastOperationTime"]
    without_state = devhost.call("GET", f"{WEBHOOK}/entities/counter?top=1000").json()
    assert all(e["state"] is None for e in without_state)
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert (
        devhost.call("GET", f"{WEBHOOK}/entities/counter?lastOperationTimeFrom={later}").json()
        == []
    )
    recent = devhost.call("GET", f"{WEBHOOK}/entities/counter?lastOperationTimeTo={later}&top=1000")
    assert key in [e["entityId"]["key"] for e in recent.json()]
    first = devhost.call("GET", f"{WEBHOOK}/entities/counter?top=1")  # 'ticks' exists as well
    token = first.headers["x-ms-continuation-token"]
    assert len(first.json()) == 1 and token
    second = devhost.call(
        "GET", f"{WEBHOOK}/entities/counter?top=1", headers={"x-ms-continuation-token": token}
    )
    assert len(second.json()) == 1 and second.json()[0]["entityId"] != first.json()[0]["entityId"]
    broken = devhost.call(
        "POST", f"{path}?op=add", raw=b"{", headers={"Content-Type": "application/json"}
    )
    assert broken.status == 400
    assert broken.json()["Message"].startswith("Could not parse JSON content")
    unknown = devhost.call("POST", f"{WEBHOOK}/entities/nothing/{key}?op=x")
    assert unknown.status == 400 and "'nothing'" in unknown.json()["Message"]
    assert devhost.call("GET", f"{WEBHOOK}/entities/nothing/{key}").status in (400, 404)
    assert devhost.call("DELETE", path).status == 202
    poll(lambda: devhost.call("GET", path).status == 404, 30, "the entity to be deleted")
    empty_key = devhost.call(
        "POST",
        f"{WEBHOOK}/entities/counter/?op=add",
        raw=b"2",
        headers={"Content-Type": "text/plain"},
    )
    assert empty_key.status == 202
    poll(
        lambda: devhost.call("GET", f"{WEBHOOK}/entities/counter/$").status == 200,
        30,
        "the empty-key entity",
    )


def test_other_routes(devhost: HostProcess):
    assert devhost.call("POST", f"{WEBHOOK}/makeprimary").status == 200
    for method, path in (("GET", "nope"), ("GET", "orchestrators/chain"), ("PUT", "instances/x")):
        reply = devhost.call(method, f"{WEBHOOK}/{path}")
        assert (reply.status, reply.body) == (404, b""), path
