"""The local Functions host: app, durable engine, HTTP server and timers, run together.

``Host(options).run()`` is what ``python -m devhost`` does. The task hub is a SQLite file in the
data folder (default ``<app>/.devhost``), named after the hub, so a host restarted on the same
folder resumes every orchestration where it stood. The host's keys are in the same folder unless
settings give them (:mod:`devhost.hostkeys`); a keyless host serves loopback only. One host at a
time per data folder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost import logs, rpc
from devhost.app import LoadedApp, durable_functions, load_app, orchestrator_timeout
from devhost.client_binding import client_binding_json
from devhost.clock import SystemClock
from devhost.datalock import DataFolderLock, make_private_folder
from devhost.engine import Engine
from devhost.hostkeys import check_keyless_address, keyless_setting, set_up_keys
from devhost.http.functions import log_failure
from devhost.http.guards import RequestGuards
from devhost.http.limits import HttpLimits
from devhost.http.server import HostServer, build_pipeline
from devhost.invocation import ClientBindingSpec, Invoker
from devhost.store import SqliteTaskHubStore
from devhost.taskhub import Clock, DurableFunctions, TaskHub
from devhost.timers import TimerSchedule, TimerSpec, TimerStatusFile, TimerTriggers

DEFAULT_PORT = 7071
DEFAULT_DATA_FOLDER = ".devhost"

logger = logging.getLogger("Host.Startup")


@dataclass(frozen=True)
class HostOptions:
    app_folder: Path
    port: int | None = None  # None: local.settings.json Host.LocalHttpPort, else 7071
    host: str = "127.0.0.1"
    data_dir: Path | None = None
    verbose: bool = False
    keyless: bool = False  # --no-keys (or the DEVHOST_KEYLESS setting)


def open_task_hub(
    app: LoadedApp, data_dir: Path, functions: DurableFunctions, clock: Clock | None
) -> TaskHub:
    """The durable engine on a SQLite file in ``data_dir``."""
    make_private_folder(data_dir)
    store = SqliteTaskHubStore(str(data_dir / f"{app.host.hub_name}.sqlite3"))
    return Engine(
        store,
        functions,
        hub_name=app.host.hub_name,
        clock=clock,
        max_concurrent_activities=app.host.max_concurrent_activities,
        max_concurrent_orchestrations=app.host.max_concurrent_orchestrations,
        logger=logging.getLogger("Host.Triggers.DurableTask"),
        default_version=app.host.default_version,
        overridable_states=app.host.overridable_states,
        http_async_sleep_ms=app.host.http_async_sleep_ms,
    )


async def close_sdk_session() -> None:
    """Close the SDK's module-wide aiohttp session (it lives on this loop) if it was opened."""
    http_utils = sys.modules.get("azure.durable_functions.models.utils.http_utils")
    if http_utils is not None:
        await http_utils._close_session()  # noqa: SLF001 - the SDK has no public close


def origin_host(listen: str) -> str:
    """Where this machine reaches the server (the SDK's rpcBaseUrl is built from it)."""
    if listen in ("", "0.0.0.0", "127.0.0.1", "localhost"):
        return "127.0.0.1"
    if listen == "::":
        return "[::1]"
    return f"[{listen}]" if ":" in listen else listen


TaskHubFactory = Callable[[LoadedApp, Path, DurableFunctions, Clock | None], TaskHub]
"""(app, data folder, invokers, clock or None for real time) -> a task hub, not yet started."""


class Host:
    """One running host. ``start``/``stop`` for embedding; ``run`` until SIGINT/SIGTERM.

    Creating one locks its data folder (``devhost.datalock``; raises ``DataFolderInUse`` when
    another host has it); ``stop`` or the end of the process lets it go."""

    def __init__(
        self,
        options: HostOptions,
        *,
        clock: Clock | None = None,
        environ: MutableMapping[str, str] | None = None,
        task_hub_factory: TaskHubFactory | None = None,
    ) -> None:
        self.options = options
        self.task_hub_factory = task_hub_factory or open_task_hub
        self.environ = os.environ if environ is None else environ
        self.clock: Clock = clock or SystemClock()
        app_folder = Path(options.app_folder).resolve()
        self.data_dir = options.data_dir or (app_folder / DEFAULT_DATA_FOLDER)
        # Before the app is imported and long before the task hub opens: a second host on
        # this folder stops here, having touched nothing.
        self.data_lock = DataFolderLock.acquire(self.data_dir, app_folder)
        try:
            self.app = load_app(app_folder, self.environ)
            keyless = options.keyless or keyless_setting(self.environ)
            if keyless:
                check_keyless_address(options.host)
            self.key_setup = set_up_keys(self.environ, self.data_dir, keyless=keyless)
            self.orchestrator_seconds = orchestrator_timeout(self.environ)
        except BaseException:
            self.data_lock.release()
            raise
        self.keys = self.key_setup.keys
        self.guards = RequestGuards.for_host(options.host, self.environ, self.app.host.cors_origins)
        self.limits = HttpLimits.from_settings(self.environ)
        assert self.app.worker is not None
        self.invoker = Invoker(self.app.worker)
        self.origin = ""
        schedules = {
            t.function.name: TimerSchedule.parse(t.schedule, self.environ, t.function.name)
            for t in self.app.timers
        }
        self._timer_functions = {t.function.name: t for t in self.app.timers}
        self._timer_specs = [
            TimerSpec(name, schedules[name], t.run_on_startup, t.use_monitor)
            for name, t in self._timer_functions.items()
        ]
        self.hub: TaskHub | None = None
        self.server: HostServer | None = None
        self._stop_timers = asyncio.Event()
        self._timer_task: asyncio.Task[None] | None = None

    def client_json(self, binding: ClientBindingSpec) -> str:
        """The durableClient binding value for this host (reference §4.1)."""
        if binding.task_hub and binding.task_hub.lower() != self.app.host.hub_name.lower():
            logger.warning(
                "durableClient '%s' names task hub '%s'; devhost serves only '%s'",
                binding.name,
                binding.task_hub,
                self.app.host.hub_name,
            )
        return client_binding_json(
            self.origin,
            binding.task_hub or self.app.host.hub_name,
            connection=binding.connection_name,
            system_key=self.keys.system_key,
        )

    async def start(self) -> int:
        """Open the task hub, serve HTTP, start the engine and the timers; returns the port."""
        loop = asyncio.get_running_loop()
        self.invoker.bind_loop(loop)
        functions = durable_functions(
            self.app, self.invoker, self.client_json, self.orchestrator_seconds
        )
        self.hub = await asyncio.to_thread(
            self.task_hub_factory,
            self.app,
            self.data_dir,
            functions,
            None if isinstance(self.clock, SystemClock) else self.clock,
        )
        pipeline = build_pipeline(
            self.app,
            self.hub,
            self.invoker,
            self.client_json,
            self.keys,
            self.guards,
            self.limits,
        )
        self.server = HostServer(pipeline)
        port = self.options.port
        if port is None:
            port = self.app.host.local_http_port or DEFAULT_PORT
        port = await self.server.start(self.options.host, port)
        self.origin = f"http://{origin_host(self.options.host)}:{port}"
        self.data_lock.announce(self.origin)
        await asyncio.to_thread(self.hub.start)
        self._announce(port)
        if self._timer_specs:
            triggers = TimerTriggers(
                self._timer_specs,
                self._invoke_timer,
                self.clock,
                TimerStatusFile(self.data_dir / "timers.json"),
            )
            self._timer_task = asyncio.create_task(triggers.run(self._stop_timers))
        return port

    async def stop(self) -> None:
        """Stop timers, HTTP and the engine, in that order."""
        self._stop_timers.set()
        if self._timer_task is not None:
            await self._timer_task
        if self.server is not None:
            await self.server.stop()
        if self.hub is not None:
            await asyncio.to_thread(self.hub.stop)
        await close_sdk_session()
        self.invoker.close()
        self.data_lock.release()

    async def run(self) -> None:
        """Start, then serve until SIGINT or SIGTERM. Raises what ``start`` raises (a damaged
        task hub: TaskHubDamaged), having let go of everything."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        try:
            await stop.wait()
        finally:
            logger.info("Stopping host...")
            await self.stop()

    async def _invoke_timer(self, name: str, payload: dict[str, Any]) -> None:
        """Run one timer function with the host's TimerRequest payload (reference §8)."""
        function = self._timer_functions[name].function
        reason = f"Timer fired at {self.clock.now().isoformat()}"
        with logs.invocation(name, reason) as invocation:
            try:
                clients = {b.name: self.client_json(b) for b in function.client_bindings}
                await self.invoker.call(
                    function,
                    rpc.TypedData(json=json.dumps(payload)),
                    clients,
                    invocation.invocation_id,
                )
            except Exception as error:
                invocation.fail()
                log_failure(name, invocation.invocation_id, error)

    def _announce(self, port: int) -> None:
        prefix = f"/{self.app.host.route_prefix}" if self.app.host.route_prefix else ""
        worker = self.app.worker.description if self.app.worker is not None else "none"
        lines = ["", f"Python worker: {worker}", "", "Functions:", ""]
        for http in self.app.http:
            methods = ",".join(sorted(http.methods)) if http.methods else "ALL"
            lines.append(f"\t{http.function.name}: [{methods}] {self.origin}{prefix}/{http.route}")
        for timer in self.app.timers:
            lines.append(f"\t{timer.function.name}: timerTrigger ({timer.schedule})")
        for durable in self.app.durable:
            trigger = durable.function.trigger_type
            alias = (
                ""
                if durable.registered_name == durable.function.name
                else (f" as '{durable.registered_name}'")
            )
            lines.append(f"\t{durable.function.name}: {trigger}{alias}")
        lines += [
            "",
            f"Keys: {self.key_setup.describe()}",
            f"Host started on {self.origin} (task hub {self.app.host.hub_name}, "
            f"data in {self.data_dir})",
        ]
        logger.info("\n".join(lines))
