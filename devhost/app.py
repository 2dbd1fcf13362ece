"""Load an unchanged Python v2-model Functions app folder, as the host and the worker do.

``load_app(folder)`` reads ``local.settings.json`` ``Values`` into the environment (variables
already set win), reads ``host.json``, imports ``function_app.py`` (or the file named by the
``PYTHON_SCRIPT_FILE_NAME`` setting), finds the single ``FunctionRegister`` attribute and calls
its ``get_functions()`` once (a second call raises in azure-functions). Durable functions are
registered under their trigger alias when one is given (``orchestration=``, ``activity=``,
``entity_name=``), else under the function name, as the Durable extension does.

``durable_functions(app, runner, client_json)`` builds the engine's invokers (reference §7.5).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from devhost.invocation import ClientBindingSpec, FunctionRunner, UserFunction, describe
from devhost.taskhub import DurableFunctions

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


@dataclass(frozen=True)
class HttpFunction:
    function: UserFunction
    route: str
    methods: frozenset[str] | None  # None: every method
    auth_level: str  # "anonymous" | "function" | "admin"


@dataclass(frozen=True)
class TimerFunction:
    function: UserFunction
    schedule: str
    run_on_startup: bool
    use_monitor: bool | None


@dataclass(frozen=True)
class DurableFunction:
    kind: str  # "orchestrator" | "activity" | "entity"
    registered_name: str
    function: UserFunction


@dataclass
class LoadedApp:
    folder: Path
    host: HostSettings
    settings: dict[str, str]
    http: list[HttpFunction] = field(default_factory=list)
    timers: list[TimerFunction] = field(default_factory=list)
    durable: list[DurableFunction] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def functions(self) -> list[UserFunction]:
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


def read_host_json(
    folder: Path, environ: MutableMapping[str, str], host_section: dict[str, Any] | None = None
) -> HostSettings:
    """Read host.json; raises AppLoadError naming the setting when a value is unusable."""
    path = folder / "host.json"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except ValueError as error:
            raise AppLoadError(f"{path} is not valid JSON: {error}") from error
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
        local_http_port=None
        if port is None
        else _positive_int(port, "local.settings.json Host.LocalHttpPort", 0),
    )


def import_function_register(folder: Path, script: str) -> func.FunctionRegister:
    """Import the script and return its single FunctionRegister (worker ``index_function_app``)."""
    path = folder / script
    if not path.exists():
        raise AppLoadError(
            f"{path} not found; a Python v2-model app needs function_app.py (or set "
            f"{SCRIPT_FILE_SETTING} in local.settings.json)"
        )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    module_name = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    registers = [
        (name, value)
        for name, value in vars(module).items()
        if isinstance(value, func.FunctionRegister)
    ]
    if len(registers) != 1:
        found = ", ".join(name for name, _ in registers) or "none"
        raise AppLoadError(
            f"{path} must define exactly one FunctionApp/DFApp at module level; found {found}"
        )
    return registers[0][1]


def _auth_level(trigger: Any) -> str:
    level = getattr(trigger, "auth_level", None)
    text = str(getattr(level, "value", level) or "function")
    return text.lower()


def _methods(trigger: Any) -> frozenset[str] | None:
    methods = getattr(trigger, "methods", None)
    if not methods:
        return None
    return frozenset(str(getattr(m, "value", m)).upper() for m in methods)


def _binding_type(binding: Any) -> str | None:
    """A binding's type; generic bindings (``generic_input_binding(type=...)``) carry it as
    ``type``, as function.json does."""
    return binding.get_binding_name() or getattr(binding, "type", None)


_DURABLE_TRIGGERS = {
    "orchestrationTrigger": ("orchestrator", "orchestration"),
    "activityTrigger": ("activity", "activity"),
    "entityTrigger": ("entity", "entity_name"),
}


def index_functions(register: func.FunctionRegister, folder: Path) -> LoadedApp:
    """Sort the app's functions by trigger; ``get_functions()`` is called exactly once here.

    Raises AppLoadError when two durable functions share a (case-insensitive) name.
    """
    app = LoadedApp(folder=folder, host=HostSettings(), settings={})
    durable_names: dict[tuple[str, str], str] = {}
    for function in register.get_functions():
        user_function = function.get_user_function()
        name = function.get_function_name() or user_function.__name__
        trigger: Any = function.get_trigger()
        if trigger is None:
            app.skipped.append(f"{name}: no trigger")
            continue
        trigger_type = str(_binding_type(trigger))
        bindings = function.get_bindings()
        clients = tuple(
            ClientBindingSpec(
                b.name, getattr(b, "task_hub", None), getattr(b, "connection_name", None)
            )
            for b in bindings
            if _binding_type(b) == "durableClient"
        )
        others = [
            str(_binding_type(b))
            for b in bindings
            if b is not trigger and _binding_type(b) not in ("durableClient", "http")
        ]
        if others:
            app.skipped.append(f"{name}: bindings {', '.join(others)} are not supported by devhost")
            continue
        user = describe(name, trigger_type, trigger.name, user_function, clients, str(folder))
        if trigger_type == "httpTrigger":
            route = str(trigger.route or name).strip("/")
            app.http.append(HttpFunction(user, route, _methods(trigger), _auth_level(trigger)))
        elif trigger_type == "timerTrigger":
            app.timers.append(
                TimerFunction(
                    user,
                    str(trigger.schedule),
                    bool(getattr(trigger, "run_on_startup", False)),
                    getattr(trigger, "use_monitor", None),
                )
            )
        elif trigger_type in _DURABLE_TRIGGERS:
            kind, alias_attribute = _DURABLE_TRIGGERS[trigger_type]
            registered = str(getattr(trigger, alias_attribute, None) or name)
            key = (kind, registered.lower())
            if key in durable_names:
                raise AppLoadError(
                    f"{kind} name '{registered}' is used by both '{durable_names[key]}' and "
                    f"'{name}'; durable names are case-insensitive and must be unique"
                )
            durable_names[key] = name
            app.durable.append(DurableFunction(kind, registered, user))
        else:
            app.skipped.append(f"{name}: trigger '{trigger_type}' is not supported by devhost")
    return app


def load_app(folder: Path | str, environ: MutableMapping[str, str] | None = None) -> LoadedApp:
    """Load settings, host.json and the app's functions. Raises AppLoadError."""
    environ = os.environ if environ is None else environ
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise AppLoadError(f"app folder {folder} does not exist")
    values, host_section = read_local_settings(folder)
    apply_settings(values, environ)
    host = read_host_json(folder, environ, host_section)
    script = environ.get(SCRIPT_FILE_SETTING) or "function_app.py"
    register = import_function_register(folder, script)
    app = index_functions(register, folder)
    app.host, app.settings = host, values
    for line in app.skipped:
        logger.warning("skipping function %s", line)
    return app


ClientJson = Callable[[ClientBindingSpec], str]


def durable_functions(
    app: LoadedApp, runner: FunctionRunner, client_json: ClientJson
) -> DurableFunctions:
    """The engine's invokers for the app's orchestrators, activities and entities."""
    functions = DurableFunctions()
    for durable in app.durable:
        if durable.kind == "orchestrator":
            functions.orchestrators[durable.registered_name] = _context_handler(durable.function)
        elif durable.kind == "entity":
            functions.entities[durable.registered_name] = _context_handler(durable.function)
        else:
            functions.activities[durable.registered_name] = _activity_invoker(
                durable.function, runner, client_json
            )
    return functions


def _context_handler(function: UserFunction) -> Callable[[str], str]:
    """Orchestrator and entity handles take the context JSON and return the state JSON."""
    handle = function.function

    def invoke(context_json: str) -> str:
        return str(handle(context_json))

    return invoke


def _activity_invoker(
    function: UserFunction, runner: FunctionRunner, client_json: ClientJson
) -> Callable[[str | None], str | None]:
    def invoke(input_json: str | None) -> str | None:
        value = None
        if input_json is not None:
            value = ActivityTriggerConverter.decode(
                meta.Datum(type="json", value=input_json), trigger_metadata=None
            )
        clients = {b.name: client_json(b) for b in function.client_bindings}
        result = runner.call_blocking(function, runner.arguments(function, value, clients))
        if result is None:
            return None
        encoded: str | None = ActivityTriggerConverter.encode(result, expected_type=None).value
        return encoded

    return invoke
