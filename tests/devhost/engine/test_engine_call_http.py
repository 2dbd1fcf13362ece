"""Durable HTTP: ``context.call_http`` as the built-in activity ``BuiltIn::HttpActivity``.

The requests go to a real local endpoint (:class:`HttpReceiver`); the engine is stepped by hand
on a fake clock, so timers fire when the test moves the clock.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.clock import FakeClock
from devhost.durablehttp import (
    DurableHttpRequest,
    HttpRequestRefused,
    PollFailed,
    format_timespan,
    location_of,
    poll_delay,
)
from devhost.history import EventType
from devhost.taskhub import RuntimeStatus
from tests.devhost.engine.engine_apps import (
    client_input,
    drain,
    event_kinds,
    functions,
    orchestrator,
)
from tests.support.http_receiver import Answer, HttpReceiver, ReceivedRequest
from tests.support.servers import free_port

HTTP = "BuiltIn::HttpActivity"
TOKEN_RESOURCE = "https://management.core.windows.net/"


def _history(engine: Any, instance_id: str) -> list[dict[str, Any]]:
    return engine.get_status(instance_id, show_history=True).history


def _of_type(history: list[dict[str, Any]], kind: EventType) -> list[dict[str, Any]]:
    return [e for e in history if e["EventType"] == kind]


def _output(engine: Any, instance_id: str) -> Any:
    status = engine.get_status(instance_id)
    assert status.runtime_status is RuntimeStatus.COMPLETED, status.output
    return json.loads(status.output)


def _run(engine: Any, clock: FakeClock, instance_id: str, step: float = 1) -> None:
    """Drain, moving the clock by ``step`` seconds between rounds, until the instance ends."""
    for _ in range(60):
        drain(engine)
        if engine.get_status(instance_id).runtime_status.is_terminal:
            return
        clock.advance(step)
    raise AssertionError("the orchestration did not finish")


# --- one request, one answer ---------------------------------------------------------------


def test_call_http_sends_the_request_and_hands_the_answer_to_the_orchestrator(make_engine):
    def answer(request: ReceivedRequest) -> Answer:
        headers = [("Content-Type", "application/json"), ("X-Reply", "yes"), ("Vary", "A")]
        return 201, [*headers, ("Vary", "B")], b'{"created": true}'

    with HttpReceiver(answer) as receiver:

        def post(context: df.DurableOrchestrationContext):
            response = yield context.call_http(
                "POST",
                f"{receiver.base}/things?x=1",
                {"a": 1},
                headers={"Content-Type": "application/json", "x-custom": "42"},
            )
            return response

        engine = make_engine(functions({"post": post}))
        instance_id = engine.start_orchestration("post", None)
        drain(engine)

    output = _output(engine, instance_id)
    assert output["statusCode"] == 201
    assert output["content"] == '{"created": true}'
    assert output["headers"]["X-Reply"] == "yes"
    assert output["headers"]["Vary"] == ["A", "B"]  # several values: an array
    assert "Content-Type" not in output["headers"]  # .NET keeps content headers apart
    assert "Content-Length" not in output["headers"]

    (request,) = receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/things?x=1", b'{"a": 1}')
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-custom"] == "42"
    assert request.headers["user-agent"].startswith(
        "Microsoft.Azure.WebJobs.Extensions.DurableTask"
    )

    history = _history(engine, instance_id)
    (scheduled,) = _of_type(history, EventType.TASK_SCHEDULED)
    (completed,) = _of_type(history, EventType.TASK_COMPLETED)
    assert (scheduled["EventId"], scheduled["Name"]) == (0, HTTP)
    assert json.loads(scheduled["Input"]) == [
        {
            "method": "POST",
            "uri": f"{receiver.base}/things?x=1",
            "headers": {"Content-Type": "application/json", "x-custom": "42"},
            "content": '{"a": 1}',
            "tokenSource": None,
            "asynchronousPatternEnabled": False,
            "retryOptions": None,
            "timeout": None,
        }
    ]
    assert completed["TaskScheduledId"] == 0
    assert json.loads(completed["Result"]) == output


def test_content_goes_as_text_plain_by_default_and_a_content_type_needs_content(make_engine):
    with HttpReceiver(lambda request: (204, [], b"")) as receiver:

        def two(context: df.DurableOrchestrationContext):
            yield context.call_http("PUT", f"{receiver.base}/raw", "plain words", is_raw_str=True)
            yield context.call_http(
                "GET", f"{receiver.base}/bare", headers={"Content-Type": "application/json"}
            )
            return "done"

        engine = make_engine(functions({"two": two}))
        instance_id = engine.start_orchestration("two", None)
        drain(engine)

    assert _output(engine, instance_id) == "done"
    put, get = receiver.requests
    assert (put.method, put.body, put.headers["content-type"]) == (
        "PUT",
        b"plain words",
        "text/plain",
    )
    assert (get.method, get.body, get.headers["content-type"]) == ("GET", b"", None)


def test_error_statuses_are_answers_not_failures(make_engine):
    with HttpReceiver(lambda request: (500, [], b"it broke")) as receiver:

        def failing(context: df.DurableOrchestrationContext):
            return (yield context.call_http("DELETE", f"{receiver.base}/x"))

        engine = make_engine(functions({"failing": failing}))
        instance_id = engine.start_orchestration("failing", None)
        drain(engine)

    output = _output(engine, instance_id)
    assert (output["statusCode"], output["content"]) == (500, "it broke")
    assert [r.method for r in receiver.requests] == ["DELETE"]


# --- 202: the SDK never enables polling, so the orchestrator gets the 202 --------------------


class Job:
    """An endpoint that accepts a job with 202 + Location and answers 200 from the ``ready``th
    poll on (Retry-After: 1 on the first 202 only)."""

    def __init__(self, ready: int) -> None:
        self.ready = ready
        self.polls = 0

    def __call__(self, request: ReceivedRequest) -> Answer:
        host = request.headers["host"]
        if request.path == "/jobs":
            location = [("Location", f"http://{host}/jobs/7"), ("Retry-After", "1")]
            return 202, location, b'{"id": 7}'
        if request.path == "/jobs/7":
            self.polls += 1
            if self.polls >= self.ready:
                return 200, [("Content-Type", "text/plain")], b"job 7 done"
            return 202, [("Location", f"http://{host}/jobs/7")], b""
        return 404, [], b""


def test_a_202_reaches_the_orchestrator_as_is_because_sdk_1_7_never_enables_polling(
    make_engine,
):
    with HttpReceiver(Job(ready=1)) as receiver:

        def start_job(context: df.DurableOrchestrationContext):
            return (yield context.call_http("POST", f"{receiver.base}/jobs", {"n": 1}))

        engine = make_engine(functions({"start_job": start_job}))
        instance_id = engine.start_orchestration("start_job", None)
        drain(engine)

    output = _output(engine, instance_id)
    assert output["statusCode"] == 202
    assert output["headers"]["Location"] == f"{receiver.base}/jobs/7"
    assert output["headers"]["Retry-After"] == "1"
    assert [r.path for r in receiver.requests] == ["/jobs"]  # no poll
    kinds = {e["EventType"] for e in _history(engine, instance_id)}
    assert EventType.TIMER_CREATED not in kinds


def poll_job(context: df.DurableOrchestrationContext):
    """What a Python app does on Azure: poll the 202 itself, then carry on."""
    base = context.get_input()
    response = yield context.call_http("POST", f"{base}/jobs", {"n": 1})
    polls = 0
    while response["statusCode"] == 202:
        retry_after = response["headers"].get("Retry-After")
        seconds = int(retry_after) if retry_after else 2
        yield context.create_timer(context.current_utc_datetime + dt.timedelta(seconds=seconds))
        response = yield context.call_http("GET", response["headers"]["Location"])
        polls += 1
    shout = yield context.call_activity("Shout", response["content"])
    again = yield context.call_http("GET", f"{base}/jobs/7")
    return {"polls": polls, "shout": shout, "again": again["statusCode"]}


def test_an_orchestrator_that_polls_itself_replays_and_carries_on(make_engine, clock, store_path):
    with HttpReceiver(Job(ready=2)) as receiver:
        engine = make_engine(
            functions({"poll_job": poll_job}, {"Shout": lambda text: text.upper()}), store_path
        )
        instance_id = engine.start_orchestration("poll_job", client_input(receiver.base))
        _run(engine, clock, instance_id)

    assert _output(engine, instance_id) == {"polls": 2, "shout": "JOB 7 DONE", "again": 200}
    assert [(r.method, r.path) for r in receiver.requests] == [
        ("POST", "/jobs"),
        ("GET", "/jobs/7"),
        ("GET", "/jobs/7"),
        ("GET", "/jobs/7"),
    ]
    history = _history(engine, instance_id)
    scheduled = [(e["EventId"], e["Name"]) for e in _of_type(history, EventType.TASK_SCHEDULED)]
    assert scheduled == [(0, HTTP), (2, HTTP), (4, HTTP), (5, "Shout"), (6, HTTP)]
    timers = _of_type(history, EventType.TIMER_CREATED)
    assert [t["EventId"] for t in timers] == [1, 3]
    # Retry-After: 1 on the first 202, none on the second (the orchestrator's own default: 2 s)
    assert timers[0]["FireAt"] == "2024-01-01T00:00:01.0000000Z"
    assert timers[1]["FireAt"] == "2024-01-01T00:00:03.0000000Z"


# --- asynchronousPatternEnabled: the extension's own polling loop -------------------------------


def extension_polling(base: str, seen: list[dict[str, Any]]):
    """An orchestrator speaking the protocol directly: one CallHttp action that enables polling
    (as the JS SDK sends it; Python 1.7 cannot), done at the first answer that is not a 202."""

    def invoke(context_json: str) -> str:
        context = json.loads(context_json)
        seen.append(context)
        action = {
            "actionType": 8,
            "httpRequest": {
                "method": "POST",
                "uri": f"{base}/jobs",
                "content": "{}",
                "headers": {"Content-Type": "application/json", "x-functions-key": "k"},
                "asynchronousPatternEnabled": True,
            },
        }
        state: dict[str, Any] = {"isDone": False, "schemaVersion": 2, "actions": [[action]]}
        answers = [
            json.loads(e["Result"])
            for e in context["history"]
            if e["EventType"] == EventType.TASK_COMPLETED
        ]
        if answers and answers[-1]["statusCode"] != 202:
            state.update(isDone=True, output=answers[-1])
        return json.dumps(state)

    return invoke


def test_a_request_that_enables_polling_is_polled_as_the_extension_does(make_engine, clock):
    seen: list[dict[str, Any]] = []
    with HttpReceiver(Job(ready=2)) as receiver:
        app = functions()
        app.orchestrators["extension_polling"] = extension_polling(receiver.base, seen)
        engine = make_engine(app, http_async_sleep_ms=5000)
        instance_id = engine.start_orchestration("extension_polling", None)
        _run(engine, clock, instance_id)

    assert seen[0]["defaultHttpAsyncRequestSleepTimeMillseconds"] == 5000
    assert _output(engine, instance_id)["content"] == "job 7 done"
    first, *polls = receiver.requests
    assert (first.method, first.path, first.headers["x-functions-key"]) == ("POST", "/jobs", "k")
    assert [(r.method, r.path, r.body) for r in polls] == [("GET", "/jobs/7", b"")] * 2
    assert all(r.headers["x-functions-key"] is None for r in polls)  # never sent to Location

    history = _history(engine, instance_id)
    ids = [k for k in event_kinds(history) if k[0] in (4, 5, 10, 11)]
    assert ids == [
        (4, 0),
        (5, 0),
        (10, 1),
        (11, 1),
        (4, 2),
        (5, 2),
        (10, 3),
        (11, 3),
        (4, 4),
        (5, 4),
    ]
    timers = _of_type(history, EventType.TIMER_CREATED)
    answered = {e["TaskScheduledId"]: e["Timestamp"] for e in _of_type(history, 5)}
    # Retry-After: 1 after the first answer; no Retry-After on the second: the default sleep
    assert timers[0]["FireAt"] == _plus(answered[0], seconds=1)
    assert timers[1]["FireAt"] == _plus(answered[2], seconds=5)
    poll_input = json.loads(_of_type(history, EventType.TASK_SCHEDULED)[1]["Input"])[0]
    assert poll_input == {
        "method": "GET",
        "uri": f"{receiver.base}/jobs/7",
        "headers": {"Content-Type": "application/json"},
        "content": None,
        "tokenSource": None,
        "asynchronousPatternEnabled": True,
        "retryOptions": None,
        "timeout": None,
    }


def _plus(stamp: str, seconds: float) -> str:
    from devhost.history import format_timestamp, parse_timestamp

    return format_timestamp(parse_timestamp(stamp) + dt.timedelta(seconds=seconds))


def test_sdk_1_7_cannot_replay_the_ids_the_extensions_polling_takes():
    """Why polling stays off for Python: fed the history the extension writes when it polls,
    SDK 1.7 hands the 202 to the code and takes the poll's timer for the next activity."""

    def then_activity(context: df.DurableOrchestrationContext):
        response = yield context.call_http("GET", "http://example.invalid/start")
        after = yield context.call_activity("Next", "x")
        return {"status": response["statusCode"], "after": after}

    def event(kind: int, second: int, **fields: Any) -> dict[str, Any]:
        stamp = f"2024-01-01T00:00:0{second}.0000000Z"
        return {"EventType": kind, "EventId": -1, "IsPlayed": False, "Timestamp": stamp, **fields}

    accepted = {"statusCode": 202, "headers": {"Location": "http://example.invalid/s"}}
    history = [
        event(12, 0),
        event(
            0, 0, Name="o", Version="", Input=None, OrchestrationInstance={}, ParentInstance=None
        ),
        event(4, 0, EventId=0, Name=HTTP, Input="[]"),
        event(12, 1),
        event(5, 1, TaskScheduledId=0, Result=json.dumps({**accepted, "content": ""})),
        event(10, 1, EventId=1, FireAt="2024-01-01T00:00:02.0000000Z"),
        event(12, 2),
        event(11, 2, TimerId=1, FireAt="2024-01-01T00:00:02.0000000Z"),
    ]
    context = {"history": history, "input": None, "instanceId": "i", "isReplaying": False}
    context.update(parentInstanceId=None, upperSchemaVersion=1, upperSchemaVersionNew=2)
    state = json.loads(orchestrator(then_activity)(json.dumps(context)))
    assert state["isDone"] is True
    assert state["output"] == {"status": 202, "after": None}


# --- failures ---------------------------------------------------------------------------------


def caught(method: str, uri: str, **options: Any):
    def call(context: df.DurableOrchestrationContext):
        try:
            yield context.call_http(method, uri, **options)
        except Exception as error:
            return str(error)
        return "answered"

    return call


def _failed_event(engine: Any, instance_id: str) -> dict[str, Any]:
    (failed,) = _of_type(_history(engine, instance_id), EventType.TASK_FAILED)
    return failed


def test_a_token_source_is_refused_with_a_failure_that_names_it(make_engine):
    with HttpReceiver(lambda request: (200, [], b"")) as receiver:
        uri = f"{receiver.base}/subscriptions"
        token = df.ManagedIdentityTokenSource(TOKEN_RESOURCE)
        app = functions({"managed": caught("GET", uri, token_source=token)})
        engine = make_engine(app)
        instance_id = engine.start_orchestration("managed", None)
        drain(engine)

    reason = (
        f"devhost cannot call {uri} with a managed identity token for resource "
        f"'{TOKEN_RESOURCE}' (call_http token_source, kind 'AzureManagedIdentity'): managed "
        "identities exist only on Azure, so the request was not sent. Get a token in an activity "
        "(e.g. azure.identity's DefaultAzureCredential after 'az login') and pass it in an "
        "'Authorization: Bearer <token>' header instead."
    )
    details = (
        "Unhandled exception while executing task: "
        f"Azure.Identity.CredentialUnavailableException: {reason}"
    )
    failed = _failed_event(engine, instance_id)
    assert (failed["Reason"], failed["Details"]) == (reason, details)
    assert _output(engine, instance_id) == f"{reason} \n {details}"
    assert receiver.requests == []
    scheduled = _of_type(_history(engine, instance_id), EventType.TASK_SCHEDULED)[0]
    assert json.loads(scheduled["Input"])[0]["tokenSource"] == {
        "kind": "AzureManagedIdentity",
        "resource": TOKEN_RESOURCE,
    }


def test_a_refused_connection_fails_the_call_as_an_http_request_exception(make_engine):
    port = free_port()  # nothing listens there
    engine = make_engine(functions({"refused": caught("GET", f"http://127.0.0.1:{port}/x")}))
    instance_id = engine.start_orchestration("refused", None)
    drain(engine)

    failed = _failed_event(engine, instance_id)
    assert failed["Reason"] == f"Connection refused (127.0.0.1:{port})"
    details = json.loads(failed["Details"])
    assert details["ClassName"] == "System.Net.Http.HttpRequestException"
    assert details["Message"] == failed["Reason"]
    assert _output(engine, instance_id).startswith(f"Connection refused (127.0.0.1:{port}) \n {{")


def test_requests_dotnet_refuses_fail_without_being_sent(make_engine):
    with HttpReceiver(lambda request: (200, [], b"")) as receiver:
        charset = {"Content-Type": "application/json; charset=utf-8"}
        multipart = {"Content-Type": "multipart/form-data; boundary=x"}
        app = functions(
            {
                "charset": caught("POST", f"{receiver.base}/a", content="{}", headers=charset),
                "multipart": caught("POST", f"{receiver.base}/b", content="x", headers=multipart),
                "scheme": caught("GET", "ftp://127.0.0.1/file"),
            }
        )
        engine = make_engine(app)
        ids = {name: engine.start_orchestration(name, None) for name in app.orchestrators}
        drain(engine)

    reasons = {name: _failed_event(engine, i)["Reason"] for name, i in ids.items()}
    assert reasons == {
        "charset": "The format of value 'application/json; charset=utf-8' is invalid.",
        "multipart": "Multipart content is not supported with CallHttpAsync.",
        "scheme": "The 'ftp' scheme is not supported.",
    }
    assert receiver.requests == []


def raw_call_http(request: dict[str, Any]):
    """An orchestrator that sends one CallHttp action with ``request`` and returns its answer."""

    def invoke(context_json: str) -> str:
        history = json.loads(context_json)["history"]
        done = [e for e in history if e["EventType"] in (EventType.TASK_COMPLETED, 6)]
        action = {"actionType": 8, "httpRequest": request}
        state: dict[str, Any] = {"isDone": bool(done), "actions": [[action]], "schemaVersion": 2}
        if done:
            state["output"] = done[0].get("Reason") or json.loads(done[0]["Result"])
        return json.dumps(state)

    return invoke


def test_the_request_timeout_fails_the_call(make_engine):
    release = threading.Event()

    def hang(request: ReceivedRequest) -> Answer:
        release.wait(30)
        return 200, [], b"late"

    with HttpReceiver(hang) as receiver:
        app = functions()
        request = {"method": "GET", "uri": f"{receiver.base}/slow", "timeout": "00:00:00.2"}
        app.orchestrators["slow"] = raw_call_http(request)
        engine = make_engine(app)
        instance_id = engine.start_orchestration("slow", None)
        drain(engine)
        release.set()

    message = "The operation was canceled. Reached user specified timeout: 00:00:00.2000000."
    assert _output(engine, instance_id) == message
    assert json.loads(_failed_event(engine, instance_id)["Details"])["ClassName"] == (
        "System.TimeoutException"
    )


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        (
            {"retryOptions": {"firstRetryIntervalInMilliseconds": 1000}},
            "devhost does not run HTTP retry options ('retryOptions' in the CallHttp request; "
            "azure-functions-durable 1.7 never sends them). Remove them, or retry in the "
            "orchestrator by calling call_http again.",
        ),
        (
            {"tokenSource": {"kind": "Certificate", "resource": "r"}},
            "The token source kind '\"Certificate\"' is not supported.",
        ),
    ],
)
def test_members_devhost_cannot_run_fail_the_orchestration(make_engine, request_fields, message):
    app = functions()
    app.orchestrators["raw"] = raw_call_http(
        {"method": "GET", "uri": "http://127.0.0.1:9/", **request_fields}
    )
    engine = make_engine(app)
    instance_id = engine.start_orchestration("raw", None)
    drain(engine)

    status = engine.get_status(instance_id)
    assert status.runtime_status is RuntimeStatus.FAILED
    assert status.output == f"Orchestrator function 'raw' failed: {message}"
    assert _of_type(_history(engine, instance_id), EventType.TASK_SCHEDULED) == []


# --- the documents, as the extension reads and writes them ---------------------------------------


def test_the_request_is_read_with_newtonsofts_defaults():
    request = DurableHttpRequest.from_json(
        {"uri": "http://h/", "headers": {"Accept": ["a", "b"], "accept": "c", "X-Empty": []}}
    )
    assert (request.method, request.asynchronous_pattern_enabled, request.timeout) == (
        "GET",
        False,
        None,
    )
    assert request.headers == {"Accept": ["c"], "X-Empty": []}
    with pytest.raises(HttpRequestRefused, match="TimeSpan"):
        DurableHttpRequest.from_json({"uri": "http://h/", "timeout": "soon"})


def test_timespans_are_written_as_dotnet_does():
    assert format_timespan(dt.timedelta(seconds=5)) == "00:00:05"
    assert format_timespan(dt.timedelta(days=1, hours=2, milliseconds=250)) == "1.02:00:00.2500000"


def test_the_polling_loop_reads_retry_after_and_location_as_the_extension_does():
    default = dt.timedelta(seconds=30)

    def answer(status: int, **headers: Any) -> str:
        return json.dumps({"statusCode": status, "headers": headers, "content": ""})

    assert poll_delay(answer(200), default) is None
    assert poll_delay(answer(202), default) == default
    assert poll_delay(answer(202, **{"retry-after": "3"}), default) == dt.timedelta(seconds=3)
    with pytest.raises(PollFailed, match="not a whole number"):
        poll_delay(answer(202, **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), default)
    assert location_of(answer(202, location="http://h/s")) == "http://h/s"
    with pytest.raises(PollFailed, match="'Location' was not present"):
        location_of(answer(202))
    with pytest.raises(PollFailed, match="Invalid URI"):
        location_of(answer(202, Location="/relative"))
