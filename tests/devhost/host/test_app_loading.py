"""Loading an unchanged v2-model app: settings, host.json, indexing, aliases and invokers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devhost.app import AppLoadError, durable_functions, load_app
from devhost.invocation import Invoker, text_of, typed_text
from devhost.languageworker import FunctionFailed

SAMPLE = Path(__file__).resolve().parent.parent / "sample_app"


@pytest.fixture(scope="module")
def sample():
    environ = {"SAMPLE_GREETING": "from the environment"}
    return load_app(SAMPLE, environ), environ


def test_settings_reach_the_environment_but_do_not_override_it(sample):
    app, environ = sample
    assert environ["TICK_SCHEDULE"] == "*/2 * * * * *"
    assert environ["SAMPLE_GREETING"] == "from the environment"
    assert app.settings["SAMPLE_GREETING"] == "Howdy"


def test_host_json_is_read(sample):
    app, _ = sample
    assert (app.host.route_prefix, app.host.hub_name) == ("api", "SampleHub")
    assert (app.host.max_concurrent_activities, app.host.max_concurrent_orchestrations) == (32, 8)


def test_functions_are_indexed_by_trigger_with_durable_aliases(sample):
    app, _ = sample
    routes = {h.route: h for h in app.http}
    assert routes["hello"].methods == frozenset({"GET"}) and routes["echo"].methods is None
    assert routes["keyed/admin"].auth_level == "admin"
    assert routes["sdk/{method}"].function.client_bindings[0].name == "client"
    assert routes["context-info"].function.trigger_param == "req"
    assert [t.function.name for t in app.timers] == ["tick"]
    names = {(d.kind, d.registered_name) for d in app.durable}
    assert ("activity", "greet") in names and ("activity", "greet_implementation") not in names
    assert ("orchestrator", "chain") in names and ("entity", "counter") in names


def test_invokers_speak_the_json_protocol(sample):
    app, _ = sample
    invoker = Invoker(app.worker)
    functions = durable_functions(app, invoker, lambda binding: "{}")
    assert functions.activities["greet"]('"Oslo"') == '"Greetings, Oslo"'  # async activity
    assert functions.activities["double"]("21") == "42"
    assert functions.activities["noop"](None) == "null"  # no input: the JSON null, both ways
    assert functions.activities["noop"]("not json") == '"not json"'  # raw string fallback
    with pytest.raises(FunctionFailed, match="^ValueError: bad$") as failed:
        functions.activities["explode"]('"bad"')
    assert "raise ValueError(message)" in failed.value.stack_trace
    context = {
        "history": [
            {
                "EventType": 12,
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": "2024-01-01T00:00:00.0000000Z",
            },
            {
                "EventType": 0,
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": "2024-01-01T00:00:00.0000000Z",
                "Name": "chain",
                "Version": "",
                "Input": None,
                "OrchestrationInstance": {"InstanceId": "i", "ExecutionId": "e"},
            },
        ],
        "input": None,
        "instanceId": "i",
        "isReplaying": False,
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    state = json.loads(functions.orchestrators["chain"](json.dumps(context)))
    assert state["isDone"] is False
    assert state["actions"] == [
        [{"actionType": 0, "functionName": "hello_activity", "input": '"Tokyo"'}]
    ]
    entity = {
        "self": {"name": "counter", "key": "k"},
        "exists": True,
        "state": "10",
        "batch": [
            {"name": "add", "input": json.dumps("5"), "isSignal": True},
            {"name": "get", "input": json.dumps("null"), "isSignal": False},
        ],
    }
    result = json.loads(functions.entities["counter"](json.dumps(entity)))
    assert result["entityState"] == "15" and [r["result"] for r in result["results"]] == [
        "15",
        "15",
    ]


def test_invocations_from_worker_threads_run_on_the_bound_loop(sample):
    app, _ = sample
    invoker = Invoker(app.worker)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="host-loop", daemon=True)
    thread.start()
    invoker.bind_loop(loop)
    seen: list[str] = []
    real_invoke = app.worker.invoke

    async def spy(request):
        seen.append(threading.current_thread().name)
        return await real_invoke(request)

    app.worker.invoke = spy
    try:
        greet = next(d.function for d in app.durable if d.registered_name == "greet")
        returned = invoker.call_blocking(greet, typed_text('"x"'), {})
        assert text_of(returned) == '"Greetings, x"' and seen == ["host-loop"]
    finally:
        del app.worker.invoke
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def write_app(folder: Path, source: str, host: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function_app.py").write_text(source)
    (folder / "host.json").write_text(json.dumps(host or {"version": "2.0"}))
    return folder


DICT_ACTIVITY = """
import azure.durable_functions as df

app = df.DFApp()


@app.activity_trigger(input_name="values")
def totals(values: dict[str, int]) -> int:
    return sum(values.values())
"""


@pytest.mark.parametrize(
    ("source", "host", "message"),
    [
        ("x = 1\n", None, "Could not find top level function app instances in function_app.py"),
        (
            "import azure.functions as func\na = func.FunctionApp()\nb = func.FunctionApp()\n",
            None,
            "More than one FunctionApp or other top level function app instances are defined",
        ),
        (
            "import azure.functions as func\napp = func.FunctionApp()\n",
            {"version": "2.0", "extensions": {"durableTask": {"hubName": "no-dashes!"}}},
            "not a valid task hub name",
        ),
        (
            "import azure.functions as func\napp = func.FunctionApp()\n",
            {
                "version": "2.0",
                "extensions": {"durableTask": {"maxConcurrentActivityFunctions": 0}},
            },
            "maxConcurrentActivityFunctions must be at least 1",
        ),
        (
            "import azure.functions as func\napp = func.FunctionApp()\n",
            {"version": "2.0", "extensions": {"durableTask": {"hubName": "%HUB%"}}},
            "app setting 'HUB'",
        ),
        (
            "import azure.functions as func\napp = func.FunctionApp()\n",
            {"extensions": {}},
            "The host.json file is missing the required 'version' property",
        ),
        (
            "import azure.functions as func\napp = func.FunctionApp()\n",
            {"version": "3.0"},
            "'3.0' is an invalid value for host.json 'version' property",
        ),
        (
            "import azure.functions as func\napp = func.FunctionApp()\n",
            {
                "version": "2.0",
                "extensions": {"durableTask": {"overridableExistingInstanceStates": "Some"}},
            },
            "overridableExistingInstanceStates 'Some' is not one of NonRunningStates, AnyState",
        ),
        (
            DICT_ACTIVITY,
            None,
            "the Python worker refused the app: FunctionLoadError: cannot load the totals "
            "function: binding values has invalid non-type annotation dict\\[str, int\\]",
        ),
    ],
)
def test_unusable_apps_are_refused_with_the_reason(tmp_path, source, host, message):
    folder = write_app(tmp_path / "app", source, host)
    with pytest.raises(AppLoadError, match=message):
        load_app(folder, {})


def test_missing_script_and_bad_settings_are_reported(tmp_path):
    with pytest.raises(AppLoadError, match="function_app.py"):
        load_app(tmp_path, {})
    folder = write_app(
        tmp_path / "app", "import azure.functions as func\napp = func.FunctionApp()\n"
    )
    (folder / "local.settings.json").write_text("{not json")
    with pytest.raises(AppLoadError, match="local.settings.json is not valid JSON"):
        load_app(folder, {})


def test_hub_name_and_route_prefix_can_come_from_settings(tmp_path):
    folder = write_app(
        tmp_path / "app",
        "import azure.functions as func\napp = func.FunctionApp()\n"
        "@app.route(route='x')\ndef x(req):\n    return 'x'\n",
        {
            "version": "2.0",
            "extensions": {"durableTask": {"hubName": "%HUB%"}, "http": {"routePrefix": ""}},
        },
    )
    (folder / "local.settings.json").write_text(json.dumps({"Values": {"HUB": "FromSettings"}}))
    app = load_app(folder, {})
    assert (app.host.hub_name, app.host.route_prefix) == ("FromSettings", "")
    assert [h.auth_level for h in app.http] == ["function"]  # FunctionApp's default level


def test_the_command_line_refuses_an_unusable_app_with_exit_status_2(tmp_path):
    folder = write_app(
        tmp_path / "app",
        "import azure.functions as func\napp = func.FunctionApp()\n"
        "@app.timer_trigger(schedule='* * *', arg_name='t')\ndef t(t):\n    pass\n",
    )
    done = subprocess.run(
        [sys.executable, "-m", "devhost", str(folder), "--port", "0"],
        cwd=SAMPLE.parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot start: timer 't': schedule '* * *' has 3 fields" in done.stderr


GENERIC_CLIENT_APP = """
import json
import threading

import azure.durable_functions as df

app = df.DFApp()


@app.activity_trigger(input_name="value")
@app.generic_input_binding(arg_name="client", type="durableClient")
def hub_of(value: str, client: str) -> str:
    return f"{value} {json.loads(client)['taskHubName']} {threading.current_thread().name}"
"""


def test_a_sync_activity_takes_a_generic_durable_client_binding_as_json_text(tmp_path):
    # As function.json's {"type": "durableClient"}: the worker passes the binding's JSON text,
    # and a plain function runs in the worker's thread pool.
    folder = write_app(tmp_path / "app", GENERIC_CLIENT_APP)
    app = load_app(folder, {})
    (activity,) = app.durable
    assert [b.name for b in activity.function.client_bindings] == ["client"]
    assert not app.skipped
    invoker = Invoker(app.worker)
    functions = durable_functions(app, invoker, lambda _: json.dumps({"taskHubName": "Hub1"}))
    value, hub, thread = json.loads(functions.activities["hub_of"]('"x"')).split()
    assert (value, hub) == ("x", "Hub1")
    assert thread.startswith("ThreadPoolExecutor")  # the worker's pool, not the caller's thread


DUPLICATE_NAMES_APP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.function_name("hello")
@app.route(route="one")
def first(req: func.HttpRequest) -> str:
    return "1"


@app.function_name("hello")
@app.route(route="two")
def second(req: func.HttpRequest) -> str:
    return "2"
"""

SHARED_ROUTE_APP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="items/{id}", methods=["GET"])
def read(req: func.HttpRequest) -> str:
    return "read"


@app.route(route="items/{id}", methods=["PUT", "DELETE"])
def write(req: func.HttpRequest) -> str:
    return "write"


@app.route(route="Items/{id}", methods=["DELETE", "PATCH"])
def clash(req: func.HttpRequest) -> str:
    return "clash"
"""


def test_two_functions_of_one_name_fail_the_app_as_the_worker_fails_it(tmp_path):
    folder = write_app(tmp_path / "app", DUPLICATE_NAMES_APP)
    with pytest.raises(AppLoadError, match="Function hello does not have a unique function name"):
        load_app(folder, {})


def test_a_route_taken_with_the_same_method_puts_the_later_function_in_error(tmp_path, caplog):
    folder = write_app(tmp_path / "app", SHARED_ROUTE_APP)
    with caplog.at_level("WARNING", logger="Host.Startup"):
        app = load_app(folder, {})
    assert [(h.function.name, h.route) for h in app.http] == [
        ("read", "items/{id}"),
        ("write", "items/{id}"),
    ]
    assert app.skipped == [
        "clash: The route specified conflicts with the route defined by function 'write'."
    ]
    assert "skipping function clash: The route specified conflicts" in caplog.text
