"""Sample Functions app for devhost's conformance tests (a test fixture, not product code).

It uses the plain Python v2 model and azure-functions-durable 1.7 exactly as an app on Azure
would: httpTrigger routes of every template kind, a timer, orchestrators, activities (one under
an alias), an entity, and HTTP functions that drive every ``DurableOrchestrationClient`` method.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import threading
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# --- plain HTTP functions -------------------------------------------------------------------


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> str:
    greeting = os.environ.get("SAMPLE_GREETING", "?")
    return f"{greeting}, {req.params.get('name', 'world')}!"


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    body = {"id": int(req.route_params["id"]), "thread": threading.current_thread().name}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="items/{name}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> str:
    return f"name={req.route_params['name']}"


@app.route(route="items/special", methods=["GET"])
def item_special(req: func.HttpRequest) -> str:
    return "special"


@app.route(route="echo")
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    headers = {
        "X-Method": req.method,
        "X-Url": req.url,
        "X-Params": json.dumps(dict(req.params), sort_keys=True),
        "X-Test-Header": req.headers.get("x-test", ""),
        "Set-Cookie": "a=1",
    }
    return func.HttpResponse(
        req.get_body(),
        status_code=201,
        headers=headers,
        mimetype=req.headers.get("content-type") or "application/octet-stream",
    )


@app.route(route="html")
def html(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("<b>caf\u00e9</b>", mimetype="text/html", charset="latin-1")


@app.route(route="explicit-type")
def explicit_type(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("{}", headers={"Content-Type": "application/vnd.sample+json"})


@app.route(route="files/{*path}")
def files(req: func.HttpRequest) -> str:
    return f"path={req.route_params.get('path', '')}"


@app.route(route="optional/{x?}")
def optional(req: func.HttpRequest) -> str:
    return f"x={req.route_params.get('x', 'none')}"


@app.route(route="nothing")
def nothing(req: func.HttpRequest):  # type: ignore[no-untyped-def]  # "-> None" fails to load
    return None


@app.route(route="slow")
async def slow(req: func.HttpRequest) -> str:
    """Touches the file ``started`` names, then sleeps ``seconds``: a request still being
    handled when the host stops."""
    with open(req.params["started"], "w"):
        pass
    await asyncio.sleep(float(req.params.get("seconds", "60")))
    return "slept"


@app.route(route="boom")
def boom(req: func.HttpRequest) -> str:
    raise ValueError("kaboom in an http function")


@app.route(route="keyed/function", auth_level=func.AuthLevel.FUNCTION)
def keyed_function(req: func.HttpRequest) -> str:
    return "function level ok"


@app.route(route="keyed/admin", auth_level=func.AuthLevel.ADMIN)
def keyed_admin(req: func.HttpRequest) -> str:
    return "admin level ok"


@app.route(route="context-info")
async def context_info(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    body = {"invocation_id": context.invocation_id, "function_name": context.function_name}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


# --- durable client from HTTP ---------------------------------------------------------------


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["name"], req.params.get("id"), json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


def _status(status: df.DurableOrchestrationStatus) -> dict:
    if not status:
        return {"exists": False}
    return {
        "exists": True,
        "name": status.name,
        "instanceId": status.instance_id,
        "runtimeStatus": status.runtime_status.value if status.runtime_status else None,
        "input": status.input_,
        "output": status.output,
        "customStatus": status.custom_status,
        "createdTime": status.created_time.isoformat() if status.created_time else None,
        "historyEvents": getattr(status, "historyEvents", None),
    }


def _when(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _statuses(names: list[str] | None) -> list[df.OrchestrationRuntimeStatus] | None:
    return [df.OrchestrationRuntimeStatus(n) for n in names] if names else None


@app.route(route="sdk/{method}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def sdk(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Call one DurableOrchestrationClient method with the JSON body's arguments."""
    method = req.route_params["method"]
    a = req.get_json() if req.get_body() else {}
    try:
        if method == "create_check_status_response":
            return client.create_check_status_response(req, a["id"])
        if method == "wait_for_completion_or_create_check_status_response":
            return await client.wait_for_completion_or_create_check_status_response(
                req, a["id"], a.get("timeout_ms", 10000), a.get("interval_ms", 1000)
            )
        result = await _call_sdk(client, method, a)
    except Exception as error:  # the SDK's own error text is what the tests check
        result = {"error": str(error), "type": type(error).__name__}
        return func.HttpResponse(json.dumps(result), status_code=422, mimetype="application/json")
    return func.HttpResponse(json.dumps(result), mimetype="application/json")


async def _call_sdk(client: df.DurableOrchestrationClient, method: str, a: dict) -> object:
    if method == "start_new":
        return {
            "id": await client.start_new(a["name"], a.get("id"), a.get("input"), a.get("version"))
        }
    if method == "get_status":
        return _status(
            await client.get_status(
                a["id"],
                a.get("show_history", False),
                a.get("show_history_output", False),
                a.get("show_input", False),
            )
        )
    if method == "get_status_all":
        return [_status(s) for s in await client.get_status_all()]
    if method == "get_status_by":
        found = await client.get_status_by(
            _when(a.get("from")), _when(a.get("to")), _statuses(a.get("statuses")), a.get("prefix")
        )
        return [_status(s) for s in found]
    if method == "purge_instance_history":
        return {"deleted": (await client.purge_instance_history(a["id"])).instances_deleted}
    if method == "purge_instance_history_by":
        result = await client.purge_instance_history_by(
            _when(a.get("from")), _when(a.get("to")), _statuses(a.get("statuses"))
        )
        return {"deleted": result.instances_deleted}
    if method == "raise_event":
        return await client.raise_event(a["id"], a["event"], a.get("data"))
    if method in ("terminate", "suspend", "resume", "rewind"):
        return await getattr(client, method)(a["id"], a.get("reason", "because"))
    if method == "restart":
        return {"id": await client.restart(a["id"], a.get("new_id", True))}
    if method == "signal_entity":
        return await client.signal_entity(df.EntityId(a["name"], a["key"]), a["op"], a.get("input"))
    if method == "read_entity_state":
        state = await client.read_entity_state(df.EntityId(a["name"], a["key"]))
        return {"exists": state.entity_exists, "state": state.entity_state}
    if method == "create_http_management_payload":
        return client.create_http_management_payload(a["id"])
    raise ValueError(f"unknown sdk method {method}")


# --- timer ----------------------------------------------------------------------------------


@app.timer_trigger(
    schedule="%TICK_SCHEDULE%", arg_name="timer", run_on_startup=True, use_monitor=False
)
@app.durable_client_input(client_name="client")
async def tick(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.signal_entity(df.EntityId("counter", "ticks"), "add", 1)


# --- activities -----------------------------------------------------------------------------

_attempts: dict[str, int] = {}
_attempts_lock = threading.Lock()


@app.activity_trigger(input_name="name")
def hello_activity(name: str) -> str:
    return f"Hello {name}!"


@app.activity_trigger(input_name="name", activity="greet")
async def greet_implementation(name: str) -> str:
    await asyncio.sleep(0)
    return f"Greetings, {name}"


@app.activity_trigger(input_name="value")
def noop(value: object) -> object:
    return value


@app.activity_trigger(input_name="value")
async def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="ms")
def sleep_ms(ms: int) -> int:
    time.sleep(ms / 1000)
    return ms


@app.activity_trigger(input_name="key")
def flaky(key: str) -> int:
    """``"<unique>:<n>"`` fails the first n calls for that key, then returns the attempt number."""
    failures = int(key.rsplit(":", 1)[1])
    with _attempts_lock:
        _attempts[key] = attempt = _attempts.get(key, 0) + 1
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


@app.activity_trigger(input_name="message")
def explode(message: str) -> None:
    raise ValueError(message)


# --- orchestrators --------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def blocking(context: df.DurableOrchestrationContext):
    """Blocks its thread, as orchestrator code must never do: the host's time limit fails it."""
    time.sleep(context.get_input()["seconds"])
    yield context.call_activity("hello_activity", "never")


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("hello_activity", "Tokyo")
    second = yield context.call_activity("greet", "Seattle")
    third = yield context.call_activity("double", 21)
    return [first, second, third, context.get_input()]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    settings = context.get_input()
    activity, argument = settings.get("activity", "noop"), settings.get("arg")
    tasks = [
        context.call_activity(activity, i if argument is None else argument)
        for i in range(settings["count"])
    ]
    results = yield context.task_all(tasks)
    return {"count": len(results), "sum": sum(results)}


@app.orchestration_trigger(context_name="context")
def retry_orch(context: df.DurableOrchestrationContext):
    settings = context.get_input()
    options = df.RetryOptions(settings["interval_ms"], settings["attempts"])
    try:
        result = yield context.call_activity_with_retry(
            "flaky", options, f"{settings['key']}:{settings['failures']}"
        )
    except Exception as error:
        return {"error": str(error)}
    return {"result": result}


@app.orchestration_trigger(context_name="context")
def timer_orch(context: df.DurableOrchestrationContext):
    fire_at = context.current_utc_datetime + dt.timedelta(seconds=context.get_input()["seconds"])
    yield context.create_timer(fire_at)
    return {"fired_at": fire_at.isoformat()}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + dt.timedelta(seconds=context.get_input()["timeout"])
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": event.result}
    return {"approved": None, "timed_out": True}


@app.orchestration_trigger(context_name="context")
def parent_orch(context: df.DurableOrchestrationContext):
    key = context.get_input()["key"]
    child = yield context.call_sub_orchestrator(
        "child_orch", {"x": 4}, f"{context.instance_id}-child"
    )
    retried = yield context.call_sub_orchestrator_with_retry(
        "flaky_child", df.RetryOptions(500, 3), f"{key}:1"
    )
    return {"child": child, "retried": retried}


@app.orchestration_trigger(context_name="context")
def child_orch(context: df.DurableOrchestrationContext):
    doubled = yield context.call_activity("double", context.get_input()["x"])
    return {"doubled": doubled, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    attempt = yield context.call_activity("flaky", context.get_input())
    return {"attempt": attempt}


@app.orchestration_trigger(context_name="context")
def eternal(context: df.DurableOrchestrationContext):
    n = context.get_input()["n"]
    context.set_custom_status({"n": n})
    yield context.call_activity("noop", n)
    if n < 3:
        context.continue_as_new({"n": n + 1})
        return None
    return {"final": n}


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    data = yield context.wait_for_external_event("Go")
    context.set_custom_status({"stage": "done"})
    return {"got": data}


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity("noop", 1)
    raise ValueError("boom in orchestrator")


@app.orchestration_trigger(context_name="context")
def activity_fails(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", "bad input")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def rewindable(context: df.DurableOrchestrationContext):
    attempt = yield context.call_activity("flaky", f"{context.get_input()['key']}:1")
    return {"attempt": attempt}


@app.orchestration_trigger(context_name="context")
def entity_orch(context: df.DurableOrchestrationContext):
    entity = df.EntityId("counter", context.get_input()["key"])
    context.signal_entity(entity, "add", 10)
    yield context.call_entity(entity, "add", 5)
    value = yield context.call_entity(entity, "get")
    return value


@app.orchestration_trigger(context_name="context")
def versioned(context: df.DurableOrchestrationContext):
    """``context.version`` of itself and of two children (one started with a version)."""
    rounds = (context.get_input() or {}).get("rounds", 0)
    if rounds > 0:
        context.continue_as_new({"rounds": rounds - 1})
        return None
    plain = yield context.call_sub_orchestrator("version_child")
    given = yield context.call_sub_orchestrator("version_child", None, None, "7.0")
    return {"version": context.version, "plain": plain, "given": given}


@app.orchestration_trigger(context_name="context")
def version_child(context: df.DurableOrchestrationContext):
    return context.version


# --- entity ---------------------------------------------------------------------------------


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    state = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        state += context.get_input()
    elif operation == "reset":
        state = 0
    elif operation == "delete":
        context.destruct_on_exit()
        return
    context.set_state(state)
    context.set_result(state)
