"""The route table and the aiohttp server around :class:`devhost.http.pipeline.Pipeline`.

Areas, in matching order:

- ``/admin``: ``host/ping`` (anonymous, 200) and ``host/status`` (admin level).
- ``/runtime/webhooks/durabletask``: the Durable HTTP API, in the extension's own route order
  (orchestrators, entities, instances, raiseEvent, makeprimary), at the system level.
- ``/runtime/webhooks/durabletask-rpc/{system key}``: the same handlers for the SDK's
  ``rpcBaseUrl`` calls, which carry no header or query of their own (on Azure they go to the
  extension's loopback-only listener; here the key in the path stands in for the sandbox).
- ``/{routePrefix}``: the app's httpTrigger functions, most specific route first.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from devhost.app import LoadedApp
from devhost.http.auth import AuthLevel, HostKeys
from devhost.http.connections import GuardedServer
from devhost.http.entities import EntityHandlers
from devhost.http.errors import empty_response, json_response
from devhost.http.functions import FunctionHandlers
from devhost.http.guards import RequestGuards
from devhost.http.instances import InstanceHandlers
from devhost.http.limits import HttpLimits
from devhost.http.orchestrators import OrchestratorHandlers
from devhost.http.payloads import RPC_PATH, WEBHOOK_PATH
from devhost.http.pipeline import Area, Endpoint, Handler, Pipeline, RequestContext
from devhost.http.routes import RouteTemplate
from devhost.http.webhooks import Webhooks
from devhost.invocation import ClientBindingSpec, Invoker
from devhost.taskhub import TaskHub


def durable_area(webhooks: Webhooks, prefix: str = WEBHOOK_PATH, key_in_path: bool = False) -> Area:
    """The Durable HTTP API endpoints (reference §5.1), unsorted: the order is the extension's."""
    orchestrators = OrchestratorHandlers(webhooks)
    entities = EntityHandlers(webhooks)
    instances = InstanceHandlers(webhooks)

    async def make_primary(context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
        return empty_response(200)  # one local app is always the primary

    def endpoint(name: str, template: str, methods: set[str] | None, handler: Handler) -> Endpoint:
        return Endpoint(
            f"durabletask.{name}",
            RouteTemplate(template),
            None if methods is None else frozenset(methods),
            AuthLevel.SYSTEM,
            handler,
        )

    return Area(
        prefix,
        decode_whole_path=True,
        key_in_path=key_in_path,
        endpoints=[
            endpoint(
                "start", "orchestrators/{functionName}/{instanceId?}", {"POST"}, orchestrators.start
            ),
            endpoint("entity.get", "entities/{entityName?}/{entityKey?}", {"GET"}, entities.get),
            endpoint(
                "entity.signal",
                "entities/{entityName?}/{entityKey?}",
                {"POST", "DELETE"},
                entities.signal,
            ),
            endpoint("instance.get", "instances/{instanceId?}", {"GET"}, instances.get),
            endpoint("instance.purge", "instances/{instanceId?}", {"DELETE"}, instances.delete),
            endpoint(
                "instance.operation",
                "instances/{instanceId}/{operation}",
                {"POST"},
                instances.operation,
            ),
            endpoint(
                "instance.raiseEvent",
                "instances/{instanceId}/raiseEvent/{eventName}",
                {"POST"},
                instances.raise_event,
            ),
            endpoint("makeprimary", "makeprimary", None, make_primary),
        ],
    )


def admin_area(started: float) -> Area:
    async def ping(context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
        return empty_response(200)

    async def status(context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
        return json_response(
            200,
            {
                "state": "Running",
                "version": "devhost",
                "processUptime": round((time.monotonic() - started) * 1000),
            },
        )

    return Area(
        "/admin",
        endpoints=[
            Endpoint(
                "admin.ping",
                RouteTemplate("host/ping"),
                frozenset({"GET", "POST"}),
                AuthLevel.ANONYMOUS,
                ping,
            ),
            Endpoint(
                "admin.status",
                RouteTemplate("host/status"),
                frozenset({"GET"}),
                AuthLevel.ADMIN,
                status,
            ),
        ],
    )


def build_pipeline(
    app: LoadedApp,
    hub: TaskHub,
    invoker: Invoker,
    client_json: Callable[[ClientBindingSpec], str],
    keys: HostKeys,
    guards: RequestGuards,
    limits: HttpLimits,
) -> Pipeline:
    """Every area and endpoint of this host."""
    webhooks = Webhooks(hub, app.host.hub_name, keys.system_key)
    functions = FunctionHandlers(invoker, client_json)
    prefix = f"/{app.host.route_prefix}" if app.host.route_prefix else ""
    function_area = Area(prefix, endpoints=[functions.endpoint(h) for h in app.http])
    function_area.sort()
    areas = [admin_area(time.monotonic()), durable_area(webhooks)]
    if not keys.keyless:
        areas.append(durable_area(webhooks, RPC_PATH, key_in_path=True))
    return Pipeline([*areas, function_area], keys, guards, limits)


class HostServer:
    """Serves one pipeline over HTTP with aiohttp's low-level server, whose connections keep
    the pipeline's deadlines (:mod:`devhost.http.connections`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._server: GuardedServer | None = None
        self._runner: web.ServerRunner | None = None
        self.port: int | None = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._server is not None
        with self._server.handling(request):
            return await self.pipeline.handle(request)

    async def start(self, host: str, port: int) -> int:
        """Bind and start serving; returns the bound port (useful with port 0)."""
        self._server = GuardedServer(self._handle, self.pipeline.limits, access_log=None)
        self._runner = web.ServerRunner(self._server, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        return self.port

    async def stop(self) -> None:
        """Stop serving once the requests being handled are answered (up to aiohttp's shutdown
        timeout), but not the reads whose client has hung up: those are cancelled."""
        if self._server is not None:
            self._server.cancel_abandoned_reads()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
