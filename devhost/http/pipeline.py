"""The request pipeline, in one visible function:
guards -> context -> route -> auth -> body -> handler -> errors.

Modelled on Azurite's ``RequestListenerFactory``: every request goes through
:meth:`Pipeline.handle`, which

1. checks its ``Host`` and ``Origin`` (:mod:`devhost.http.guards`), key or no key: a foreign
   one is refused (400, 403) and an allowed origin's preflight answered;
2. builds a :class:`RequestContext` (method, raw path, case-insensitive query, origin), without
   the body;
3. routes it: the first *area* whose prefix the path starts with (``/admin``,
   ``/runtime/webhooks/durabletask``, the SDK's ``/runtime/webhooks/durabletask-rpc/{key}``,
   then the httpTrigger route prefix) picks the first endpoint, in precedence order, whose
   template and method match; nothing matching is 404 with an empty body;
4. authorizes it against the endpoint's level (:mod:`devhost.http.auth`); refused is 401;
5. only then reads the body, within the size limit and read timeout
   (:mod:`devhost.http.limits`): 413 or 408 otherwise;
6. runs the endpoint's handler;
7. maps an exception to a response (:func:`devhost.http.errors.error_response`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, unquote_plus

from aiohttp import web
from dateutil import parser as date_parser
from multidict import CIMultiDictProxy

from devhost.http.auth import KEY_QUERY, AuthLevel, HostKeys, authorize, presented_key
from devhost.http.errors import empty_response, error_response
from devhost.http.guards import RequestGuards
from devhost.http.limits import BodyStalled, BodyTooLarge, HttpLimits, read_body
from devhost.http.routes import RouteTemplate, route_precedence

logger = logging.getLogger("Host.Http")


class QueryParams:
    """A query string with case-insensitive names, read like .NET's ``NameValueCollection``."""

    def __init__(self, query_string: str) -> None:
        self._pairs = parse_qsl(query_string, keep_blank_values=True)

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self._pairs if key.lower() == wanted]

    def get(self, name: str) -> str | None:
        """All values of ``name`` joined with commas (as ``collection[name]``), or None."""
        values = self.get_all(name)
        return ",".join(values) if values else None

    def get_bool(self, name: str) -> bool | None:
        """``bool.TryParse``: 'true'/'false' in any case; anything else is None."""
        value = (self.get(name) or "").strip().lower()
        return {"true": True, "false": False}.get(value)

    def get_int(self, name: str) -> int | None:
        value = (self.get(name) or "").strip()
        try:
            return int(value)
        except ValueError:
            return None

    def get_float(self, name: str) -> float | None:
        value = (self.get(name) or "").strip()
        try:
            return float(value)
        except ValueError:
            return None

    def get_datetime(self, name: str) -> dt.datetime | None:
        """``DateTime.TryParse``, lenient; a time without offset is taken as UTC."""
        value = (self.get(name) or "").strip()
        if not value:
            return None
        try:
            moment = date_parser.parse(value)
        except (ValueError, OverflowError):
            return None
        utc: dt.datetime = (
            moment.replace(tzinfo=dt.timezone.utc)
            if moment.tzinfo is None
            else moment.astimezone(dt.timezone.utc)
        )
        return utc

    def first_values(self) -> dict[str, str]:
        """One value per name (the first), for ``func.HttpRequest.params``."""
        values: dict[str, str] = {}
        for key, value in self._pairs:
            values.setdefault(key, value)
        return values


@dataclass
class RequestContext:
    """Everything a handler needs about one request, read once; ``body`` is filled in after
    the request passed auth."""

    request: web.BaseRequest
    method: str
    path: str
    query: QueryParams
    headers: CIMultiDictProxy[str]
    origin: str
    body: bytes = b""

    @classmethod
    def of(cls, request: web.BaseRequest) -> RequestContext:
        return cls(
            request=request,
            method=request.method.upper(),
            path=request.rel_url.raw_path,
            query=QueryParams(request.rel_url.raw_query_string),
            headers=request.headers,
            origin=f"{request.scheme}://{request.host}",
        )

    @property
    def url(self) -> str:
        return self.origin + str(self.request.rel_url)

    @property
    def presented_key(self) -> str | None:
        return presented_key(self.headers, self.query.get_all(KEY_QUERY))

    @property
    def media_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()


Handler = Callable[[RequestContext, dict[str, str]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    template: RouteTemplate
    methods: frozenset[str] | None  # None: any method
    auth_level: AuthLevel
    handler: Handler


@dataclass
class Area:
    """A path prefix and its endpoints. ``decode_whole_path``: the Durable API decodes the whole
    path with ``WebUtility.UrlDecode`` (``+`` is a space) before matching; functions decode each
    route value instead. ``key_in_path``: the first segment after the prefix is the request's
    key (for clients that cannot send a header or a query, such as the Durable SDK's
    ``rpcBaseUrl`` calls)."""

    prefix: str
    endpoints: list[Endpoint] = field(default_factory=list)
    decode_whole_path: bool = False
    key_in_path: bool = False

    def relative(self, path: str) -> str | None:
        prefix = self.prefix.rstrip("/")
        if not prefix:
            return path
        if path.lower() == prefix.lower() or path.lower().startswith(prefix.lower() + "/"):
            return path[len(prefix) :]
        return None

    def sort(self) -> None:
        self.endpoints.sort(key=lambda e: route_precedence(e.template))


@dataclass(frozen=True)
class Match:
    endpoint: Endpoint
    values: dict[str, str]
    path_key: str | None = None  # the key from the path, in a ``key_in_path`` area


@dataclass
class Pipeline:
    areas: list[Area]
    keys: HostKeys
    guards: RequestGuards
    limits: HttpLimits = field(default_factory=HttpLimits)

    def match(self, context: RequestContext) -> Match | None:
        for area in self.areas:
            relative = area.relative(context.path)
            if relative is None:
                continue
            path_key = None
            if area.key_in_path:
                segment, _, rest = relative.removeprefix("/").partition("/")
                path_key, relative = unquote(segment), "/" + rest
            if area.decode_whole_path:
                relative = unquote_plus(relative)
            for endpoint in area.endpoints:
                if endpoint.methods is not None and context.method not in endpoint.methods:
                    continue
                values = endpoint.template.match(relative, decode=not area.decode_whole_path)
                if values is not None:
                    return Match(endpoint, values, path_key)
            return None
        return None

    def _loggable(self, path: str) -> str:
        for area in self.areas:
            if area.relative(path) is not None:
                return area.prefix + "/..." if area.key_in_path else unquote(path)
        return unquote(path)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        refusal = self.guards.check(request)  # 1. guards
        if refusal is not None:
            logger.debug("refused %s (Host or Origin): %d", request.method, refusal.status)
            return refusal
        context = RequestContext.of(request)  # 2. context
        name, response = await self._respond(context)
        response.headers.update(self.guards.cors_headers(request.headers))
        logger.debug(
            "%s %s -> %d (%dms)",
            context.method,
            name,
            response.status,
            round((time.perf_counter() - started) * 1000),
        )
        return response

    async def _respond(self, context: RequestContext) -> tuple[str, web.StreamResponse]:
        """What to log for the request (never a path with a key in it) and the answer."""
        shown = self._loggable(context.path)
        matched = self.match(context)  # 3. route
        if matched is None:
            return shown, empty_response(404)
        endpoint = matched.endpoint
        presented = matched.path_key if matched.path_key is not None else context.presented_key
        verdict = authorize(endpoint.auth_level, presented, self.keys)  # 4. auth
        if not verdict.granted:
            logger.debug("refused %s %s: %s", context.method, shown, verdict.value)
            return shown, empty_response(401)
        try:
            context.body = await read_body(context.request, self.limits)  # 5. body
        except (BodyTooLarge, BodyStalled) as error:
            status = 413 if isinstance(error, BodyTooLarge) else 408
            response = web.Response(status=status, text=f"{error}\n", content_type="text/plain")
            response.force_close()
            return shown, response
        try:
            return shown, await endpoint.handler(context, matched.values)  # 6. handler
        except Exception as error:  # 7. error mapping
            return shown, error_response(error)
