"""Load an unchanged Python v2-model Functions app folder, as the host and the worker do.

``load_app(folder)`` reads ``local.settings.json`` ``Values`` into the environment (variables
already set win) and ``host.json`` (refused without ``"version": "2.0"``, as the host refuses
it), then has the Python worker (:mod:`devhost.languageworker`) import ``function_app.py`` (or
the file named by the ``PYTHON_SCRIPT_FILE_NAME`` setting) and index it. A function the worker
refuses fails the whole app, with the worker's message, as on Azure. The host then sorts the
functions by trigger from their raw bindings: durable functions are registered under their
trigger alias when one is given (``orchestration=``, ``activity=``, ``entity_name=``), else
under the function name, as the Durable extension does.

``durable_functions(app, invoker, client_json)`` builds the engine's invokers (reference §7.5).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.durablehttp import DEFAULT_ASYNC_SLEEP_MS
from devhost.invocation import ClientBindingSpec, IndexedFunction, Invoker, text_of, typed_text
from devhost.languageworker import (
    FunctionMetadata,
    LanguageWorker,
    WorkerLoadError,
    create_worker,
)
from devhost.taskhub import DurableFunctions, OverridableStates

SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_HUB_NAME = "TestHubName"  # what Core Tools uses when host.json names no hub
DEFAULT_ROUTE_PREFIX = "api"
_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
_SETTING_REFERENCE = re.compile(r"^%([^%]+)%$")

logger = logging.getLogger("Host.Startup")


class AppLoadError(Exception):
    """The app folder cannot be hosted; the message names the file or setting and the fix."""


@dataclass(frozen=True)
class HostSettings:
    """What devhost reads from host.json (and local.settings.json ``Host``)."""

    route_prefix: str = DEFAULT_ROUTE_PREFIX
    hub_name: str = DEFAULT_HUB_NAME
    max_concurrent_activities: int = 10 * (os.cpu_count() or 1)
    max_concurrent_orchestrations: int = 10 * (os.cpu_count() or 1)
    log_levels: dict[str, str] = field(default_factory=dict)
    local_http_port: int | None = None
    cors_origins: tuple[str, ...] = ()  # local.settings.json Host.CORS, as Core Tools reads it
    default_version: str = ""  # extensions.durableTask.defaultVersion
    # extensions.durableTask.overridableExistingInstanceStates
    overridable_states: OverridableStates = OverridableStates.NON_RUNNING_STATES
    http_async_sleep_ms: int = DEFAULT_ASYNC_SLEEP_MS  # ...httpSettings.defaultAsync...


@dataclass(frozen=True)
class HttpFunction:
    function: IndexedFunction
    route: str
    methods: frozenset[str] | None  # None: every method
    auth_level: str  # "anonymous" | "function" | "admin"


@dataclass(frozen=True)
class TimerFunction:
    function: IndexedFunction
    schedule: str
    run_on_startup: bool
    use_monitor: bool | None


@dataclass(frozen=True)
class DurableFunction:
    kind: str  # "orchestrator" | "activity" | "entity"
    registered_name: str
    function: IndexedFunction


@dataclass
class LoadedApp:
    folder: Path
    host: HostSettings
    settings: dict[str, str]
    http: list[HttpFunction] = field(default_factory=list)
    timers: list[TimerFunction] = field(default_factory=list)
    durable: list[DurableFunction] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    worker: LanguageWorker | None = None

    @property
    def functions(self) -> list[IndexedFunction]:
        return (
            [h.function for h in self.http]
            + [t.function for t in self.timers]
            + [d.function for d in self.durable]
        )


def read_local_settings(folder: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """``Values`` and ``Host`` of local.settings.json (empty when the file is absent)."""
    path = folder / "local.settings.json"
    if not path.exists():
        return {}, {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as error:
        raise AppLoadError(f"{path} is not valid JSON: {error}") from error
    values = data.get("Values") or {}
    if not isinstance(values, dict):
        raise AppLoadError(f"{path}: 'Values' must be an object of setting names to strings")
    return {str(k): "" if v is None else str(v) for k, v in values.items()}, data.get("Host") or {}


def apply_settings(values: dict[str, str], environ: MutableMapping[str, str]) -> None:
    """Put app settings into the environment; variables that are already set win."""
    for name, value in values.items():
        environ.setdefault(name, value)


def _resolve(value: Any, environ: MutableMapping[str, str], where: str) -> Any:
    if isinstance(value, str):
        reference = _SETTING_REFERENCE.match(value.strip())
        if reference:
            name = reference.group(1)
            if name not in environ:
                raise AppLoadError(f"{where} refers to app setting '{name}', which is not set")
            return environ[name]
    return value


def _positive_int(value: Any, where: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as error:
        raise AppLoadError(f"{where} must be a whole number, not {value!r}") from error
    if number < 1:
        raise AppLoadError(f"{where} must be at least 1, not {number}")
    return number


HOST_JSON_VERSION = "2.0"
HOST_JSON_HELP = (
    "See https://aka.ms/functions-hostjson for steps to migrate the configuration file."
)
INSTANCE_STATE_OVERRIDES = tuple(state.value for state in OverridableStates)


def _check_version(data: dict[str, Any]) -> None:
    """The host refuses to start unless host.json says ``"version": "2.0"``."""
    if "version" not in data:
        raise AppLoadError(
            f"The host.json file is missing the required 'version' property. {HOST_JSON_HELP}"
        )
    if str(data["version"]) != HOST_JSON_VERSION:
        raise AppLoadError(
            f"'{data['version']}' is an invalid value for host.json 'version' property. This does "
            f"not correspond to the function runtime version; set it to '{HOST_JSON_VERSION}'."
        )


def read_host_json(
    folder: Path, environ: MutableMapping[str, str], host_section: dict[str, Any] | None = None
) -> HostSettings:
    """Read host.json; raises AppLoadError naming the setting when a value is unusable."""
    path = folder / "host.json"
    data: dict[str, Any] = {}
    text = path.read_text(encoding="utf-8-sig") if path.exists() else ""
    if text.strip():  # the host writes a default host.json where there is none or it is empty
        try:
            data = json.loads(text)
        except ValueError as error:
            raise AppLoadError(f"{path} is not valid JSON: {error}") from error
        if not isinstance(data, dict):
            raise AppLoadError(f"{path} must hold a JSON object")
        _check_version(data)
    extensions = data.get("extensions") or {}
    http = extensions.get("http") or {}
    durable = extensions.get("durableTask") or {}
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX)
    prefix = DEFAULT_ROUTE_PREFIX if prefix is None else str(prefix).strip("/")
    hub = _resolve(
        durable.get("hubName") or DEFAULT_HUB_NAME,
        environ,
        "host.json extensions.durableTask.hubName",
    )
    if not _HUB_NAME.match(str(hub)):
        raise AppLoadError(
            f"host.json extensions.durableTask.hubName '{hub}' is not a valid task hub name: use "
            "3 to 45 letters and digits, starting with a letter"
        )
    default = 10 * (os.cpu_count() or 1)
    levels = (data.get("logging") or {}).get("logLevel") or {}
    port = (host_section or {}).get("LocalHttpPort")
    return HostSettings(
        route_prefix=prefix,
        hub_name=str(hub),
        max_concurrent_activities=_positive_int(
            durable.get("maxConcurrentActivityFunctions"),
            "host.json extensions.durableTask.maxConcurrentActivityFunctions",
            default,
        ),
        max_concurrent_orchestrations=_positive_int(
            durable.get("maxConcurrentOrchestratorFunctions"),
            "host.json extensions.durableTask.maxConcurrentOrchestratorFunctions",
            default,
        ),
        log_levels={str(k): str(v) for k, v in levels.items()},
        default_version=str(durable.get("defaultVersion") or ""),
        overridable_states=_instance_state_override(durable),
        http_async_sleep_ms=_async_sleep_ms(durable),
        local_http_port=None
        if port is None
        else _positive_int(port, "local.settings.json Host.LocalHttpPort", 0),
        cors_origins=tuple(
            origin.strip()
            for origin in str((host_section or {}).get("CORS") or "").split(",")
            if origin.strip()
        ),
    )


def _async_sleep_ms(durable: dict[str, Any]) -> int:
    """``httpSettings.defaultAsyncRequestSleepTimeMilliseconds``: the pause before polling a
    202 (only for requests that enable polling) and the context's
    ``defaultHttpAsyncRequestSleepTimeMillseconds``."""
    where = "host.json extensions.durableTask.httpSettings.defaultAsyncRequestSleepTimeMilliseconds"
    settings = durable.get("httpSettings") or {}
    if not isinstance(settings, dict):
        raise AppLoadError("host.json extensions.durableTask.httpSettings must be an object")
    value = settings.get("defaultAsyncRequestSleepTimeMilliseconds")
    if value is None:
        return DEFAULT_ASYNC_SLEEP_MS
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AppLoadError(f"{where} must be a whole number of milliseconds >= 0, not {value!r}")
    return value


def _instance_state_override(durable: dict[str, Any]) -> OverridableStates:
    value = str(durable.get("overridableExistingInstanceStates") or INSTANCE_STATE_OVERRIDES[0])
    for known in OverridableStates:
        if value.lower() == known.value.lower():
            return known
    raise AppLoadError(
        f"host.json extensions.durableTask.overridableExistingInstanceStates '{value}' is not "
        f"one of {', '.join(INSTANCE_STATE_OVERRIDES)}"
    )


def _http_methods(binding: Mapping[str, Any]) -> frozenset[str] | None:
    methods = binding.get("methods")
    if not methods:
        return None
    return frozenset(str(m).upper() for m in methods)


_DURABLE_TRIGGERS = {
    "orchestrationTrigger": ("orchestrator", "orchestration"),
    "activityTrigger": ("activity", "activity"),
    "entityTrigger": ("entity", "entityName"),
}
_SERVED_BINDINGS = {"httpTrigger", "http", "timerTrigger", "durableClient", *_DURABLE_TRIGGERS}


def index_functions(functions: list[FunctionMetadata], folder: Path) -> LoadedApp:
    """Sort the functions the worker indexed by trigger, from their raw bindings.

    Raises AppLoadError when two durable functions share a (case-insensitive) name. A function
    whose route and methods another function already took is in error and skipped, as the host does.
    """
    app = LoadedApp(folder=folder, host=HostSettings(), settings={})
    durable_names: dict[tuple[str, str], str] = {}
    for metadata in functions:
        name = metadata.name
        trigger = metadata.trigger
        if trigger is None:
            app.skipped.append(f"{name}: no trigger")
            continue
        others = sorted({str(b.get("type")) for b in metadata.bindings} - _SERVED_BINDINGS)
        if others:
            app.skipped.append(f"{name}: bindings {', '.join(others)} are not supported by devhost")
            continue
        clients = tuple(
            ClientBindingSpec(str(b["name"]), b.get("taskHub"), b.get("connectionName"))
            for b in metadata.bindings
            if b.get("type") == "durableClient"
        )
        trigger_type = str(trigger["type"])
        function = IndexedFunction(
            name, metadata.function_id, trigger_type, str(trigger["name"]), clients
        )
        if trigger_type == "httpTrigger":
            route = str(trigger.get("route") or name).strip("/")
            methods = _http_methods(trigger)
            taken = next(
                (
                    other.function.name
                    for other in app.http
                    if other.route.lower() == route.lower()
                    and (other.methods is None or methods is None or other.methods & methods)
                ),
                None,
            )
            if taken is not None:
                app.skipped.append(
                    f"{name}: The route specified conflicts with the route defined by "
                    f"function '{taken}'."
                )
                continue
            level = str(trigger.get("authLevel") or "function").lower()
            app.http.append(HttpFunction(function, route, methods, level))
        elif trigger_type == "timerTrigger":
            app.timers.append(
                TimerFunction(
                    function,
                    str(trigger["schedule"]),
                    bool(trigger.get("runOnStartup", False)),
                    trigger.get("useMonitor"),
                )
            )
        elif trigger_type in _DURABLE_TRIGGERS:
            kind, alias_key = _DURABLE_TRIGGERS[trigger_type]
            registered = str(trigger.get(alias_key) or name)
            key = (kind, registered.lower())
            if key in durable_names:
                raise AppLoadError(
                    f"{kind} name '{registered}' is used by both '{durable_names[key]}' and "
                    f"'{name}'; durable names are case-insensitive and must be unique"
                )
            durable_names[key] = name
            app.durable.append(DurableFunction(kind, registered, function))
        else:
            app.skipped.append(f"{name}: trigger '{trigger_type}' is not supported by devhost")
    return app


def load_app(
    folder: Path | str,
    environ: MutableMapping[str, str] | None = None,
    worker: LanguageWorker | None = None,
) -> LoadedApp:
    """Load settings and host.json, then index the app through the Python worker.

    Raises AppLoadError, with the worker's own message when the worker refuses the app.
    """
    environ = os.environ if environ is None else environ
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise AppLoadError(f"app folder {folder} does not exist")
    values, host_section = read_local_settings(folder)
    apply_settings(values, environ)
    host = read_host_json(folder, environ, host_section)
    script = environ.get(SCRIPT_FILE_SETTING) or "function_app.py"
    if not (folder / script).exists():
        raise AppLoadError(
            f"{folder / script} not found; a Python v2-model app needs function_app.py (or set "
            f"{SCRIPT_FILE_SETTING} in local.settings.json)"
        )
    try:
        worker = worker or create_worker(environ)
        functions = worker.index(folder)
    except WorkerLoadError as error:
        raise AppLoadError(f"the Python worker refused the app: {error}") from error
    except ValueError as error:
        raise AppLoadError(str(error)) from error
    app = index_functions(functions, folder)
    app.host, app.settings, app.worker = host, values, worker
    for line in app.skipped:
        logger.warning("skipping function %s", line)
    return app


ClientJson = Callable[[ClientBindingSpec], str]


ORCHESTRATOR_TIMEOUT_SETTING = "DEVHOST_ORCHESTRATOR_TIMEOUT"
DEFAULT_ORCHESTRATOR_TIMEOUT_SECONDS = 60.0


def orchestrator_timeout(environ: Mapping[str, str]) -> float:
    """Seconds one orchestrator invocation may run (``DEVHOST_ORCHESTRATOR_TIMEOUT``, default 60).

    Orchestrator code replays and decides; it must not block. One that does would hold an
    orchestration thread for good, so past this limit its episode fails the orchestration
    instead (the worker's thread it blocks stays blocked: Python cannot stop it)."""
    text = (environ.get(ORCHESTRATOR_TIMEOUT_SETTING) or "").strip()
    if not text:
        return DEFAULT_ORCHESTRATOR_TIMEOUT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise AppLoadError(
            f"setting {ORCHESTRATOR_TIMEOUT_SETTING}='{text}' must be a number of seconds above 0"
        )
    return seconds


def durable_functions(
    app: LoadedApp,
    invoker: Invoker,
    client_json: ClientJson,
    orchestrator_seconds: float = DEFAULT_ORCHESTRATOR_TIMEOUT_SECONDS,
) -> DurableFunctions:
    """The engine's invokers for the app's orchestrators, activities and entities: each sends
    the payload text to the worker and answers the text the worker returns. An orchestrator
    invocation that runs past ``orchestrator_seconds`` fails (see :func:`orchestrator_timeout`)."""
    functions = DurableFunctions()
    for durable in app.durable:
        limit = orchestrator_seconds if durable.kind == "orchestrator" else None
        invoke = _durable_invoker(durable.function, invoker, client_json, limit)
        if durable.kind == "orchestrator":
            functions.orchestrators[durable.registered_name] = invoke
        elif durable.kind == "entity":
            functions.entities[durable.registered_name] = invoke
        else:
            functions.activities[durable.registered_name] = invoke
    return functions


def _durable_invoker(
    function: IndexedFunction, invoker: Invoker, client_json: ClientJson, timeout: float | None
) -> Callable[[str | None], Any]:
    def invoke(payload: str | None) -> str | None:
        # An activity called without input receives the JSON text "null", as from the extension.
        trigger = typed_text("null" if payload is None else payload)
        clients = {b.name: client_json(b) for b in function.client_bindings}
        return text_of(invoker.call_blocking(function, trigger, clients, timeout=timeout))

    return invoke
