"""The request pipeline, in one visible function: context -> route -> auth -> handler -> errors.

Modelled on Azurite's ``RequestListenerFactory``: every request goes through
:meth:`Pipeline.handle`, which

1. builds a :class:`RequestContext` (method, raw path, case-insensitive query, body, origin);
2. routes it: the first *area* whose prefix the path starts with (``/admin``,
   ``/runtime/webhooks/durabletask``, then the httpTrigger route prefix) picks the first
   endpoint, in precedence order, whose template and method match; nothing matching is 404
   with an empty body;
3. authorizes it against the endpoint's level (:mod:`devhost.http.auth`); refused is 401;
4. runs the endpoint's handler;
5. maps an exception to a response (:func:`devhost.http.errors.error_response`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, unquote_plus

from aiohttp import web
from dateutil import parser as date_parser
from multidict import CIMultiDictProxy

from devhost.http.auth import KEY_HEADER, KEY_QUERY, AuthLevel, HostKeys, authorize
from devhost.http.errors import empty_response, error_response
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
    """Everything a handler needs about one request, read once."""

    request: web.Request
    method: str
    path: str
    query: QueryParams
    headers: CIMultiDictProxy[str]
    body: bytes
    origin: str
    from_loopback: bool

    @classmethod
    async def read(cls, request: web.Request) -> RequestContext:
        body = await request.read()
        peer = request.remote or ""
        try:
            loopback = ipaddress.ip_address(peer).is_loopback
        except ValueError:
            loopback = False
        return cls(
            request=request,
            method=request.method.upper(),
            path=request.rel_url.raw_path,
            query=QueryParams(request.rel_url.raw_query_string),
            headers=request.headers,
            body=body,
            origin=f"{request.scheme}://{request.host}",
            from_loopback=loopback,
        )

    @property
    def url(self) -> str:
        return self.origin + str(self.request.rel_url)

    @property
    def presented_key(self) -> str | None:
        return self.headers.get(KEY_HEADER) or self.query.get(KEY_QUERY)

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
    route value instead."""

    prefix: str
    endpoints: list[Endpoint] = field(default_factory=list)
    decode_whole_path: bool = False

    def relative(self, path: str) -> str | None:
        prefix = self.prefix.rstrip("/")
        if not prefix:
            return path
        if path.lower() == prefix.lower() or path.lower().startswith(prefix.lower() + "/"):
            return path[len(prefix) :]
        return None

    def sort(self) -> None:
        self.endpoints.sort(key=lambda e: route_precedence(e.template))


@dataclass
class Pipeline:
    areas: list[Area]
    keys: HostKeys

    def match(self, context: RequestContext) -> tuple[Endpoint, dict[str, str]] | None:
        for area in self.areas:
            relative = area.relative(context.path)
            if relative is None:
                continue
            if area.decode_whole_path:
                relative = unquote_plus(relative)
            for endpoint in area.endpoints:
                if endpoint.methods is not None and context.method not in endpoint.methods:
                    continue
                values = endpoint.template.match(relative, decode=not area.decode_whole_path)
                if values is not None:
                    return endpoint, values
            return None
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        context = await RequestContext.read(request)  # 1. context
        response = await self._respond(context)
        logger.debug(
            "%s %s -> %d (%dms)",
            context.method,
            unquote(context.path),
            response.status,
            round((time.perf_counter() - started) * 1000),
        )
        return response

    async def _respond(self, context: RequestContext) -> web.StreamResponse:
        matched = self.match(context)  # 2. route
        if matched is None:
            return empty_response(404)
        endpoint, values = matched
        verdict = authorize(
            endpoint.auth_level,
            context.presented_key,
            self.keys,  # 3. auth
            from_loopback=context.from_loopback,
        )
        if not verdict.granted:
            logger.debug("refused %s %s: %s", context.method, endpoint.name, verdict.value)
            return empty_response(401)
        try:
            return await endpoint.handler(context, values)  # 4. handler
        except Exception as error:  # 5. error mapping
            return error_response(error)
