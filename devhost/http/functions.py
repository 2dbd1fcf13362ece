"""httpTrigger functions: aiohttp request -> ``RpcHttp`` -> the worker -> HTTP response.

The request goes to the worker as the host sends it (reference §7.4): ``TypedData.http`` with
the method, URL, headers, the route values as ``params``, the query as ``query`` and the raw body
bytes; durableClient bindings as the binding JSON text. The worker's return value comes back as
``TypedData``: an ``RpcHttp`` (status, headers, cookies, body) from a ``func.HttpResponse``, or a
string, which is a 200 ``text/plain; charset=utf-8`` body. A failed invocation is logged with
the invocation line and answered 500 with an empty body.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from devhost import logs, rpc
from devhost.app import HttpFunction
from devhost.http.auth import AuthLevel
from devhost.http.pipeline import Endpoint, RequestContext
from devhost.http.routes import RouteTemplate
from devhost.invocation import ClientBindingSpec, Invoker
from devhost.languageworker import FunctionFailed

HTTP_REASON = "This function was programmatically called via the host APIs."
_SAME_SITE = {1: "Lax", 2: "Strict", 3: "None"}


def to_rpc_http(context: RequestContext, route_values: dict[str, str]) -> Any:
    """The request as the host hands it to the worker (``TypedData.http``)."""
    headers = {name: ", ".join(context.headers.getall(name)) for name in context.headers}
    return rpc.TypedData(
        http=rpc.RpcHttp(
            method=context.method,
            url=context.url,
            headers=headers,
            params=dict(route_values),
            query=context.query.first_values(),
            body=rpc.TypedData(bytes=context.body),
        )
    )


def _body_bytes(data: Any) -> bytes:
    kind = data.WhichOneof("data") if data is not None else None
    if kind is None:
        return b""
    value = getattr(data, kind)
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _set_cookie(cookie: Any) -> str:
    parts = [f"{cookie.name}={cookie.value}"]
    # The worker sends every attribute; empty ones are left out of the header, as the host does.
    if cookie.domain is not None and cookie.domain.value:
        parts.append(f"Domain={cookie.domain.value}")
    if cookie.path is not None and cookie.path.value:
        parts.append(f"Path={cookie.path.value}")
    if cookie.max_age is not None:
        parts.append(f"Max-Age={int(cookie.max_age.value)}")
    if cookie.secure is not None and cookie.secure.value:
        parts.append("Secure")
    if cookie.http_only is not None and cookie.http_only.value:
        parts.append("HttpOnly")
    if cookie.same_site in _SAME_SITE:
        parts.append(f"SameSite={_SAME_SITE[cookie.same_site]}")
    return "; ".join(parts)


def to_web_response(returned: Any) -> web.Response:
    """The worker's return value as the host answers it."""
    kind = returned.WhichOneof("data") if returned is not None else None
    if kind is None:
        return web.Response(status=204)
    if kind != "http":
        return web.Response(
            status=200,
            body=_body_bytes(returned),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
    http = returned.http
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in http.headers.items():
        headers.add(name, value)
    for cookie in http.cookies:
        headers.add("Set-Cookie", _set_cookie(cookie))
    status = int(http.status_code or 200)
    return web.Response(status=status, body=_body_bytes(http.body), headers=headers)


@dataclass
class FunctionHandlers:
    """Builds one pipeline endpoint per httpTrigger function."""

    invoker: Invoker
    client_json: Callable[[ClientBindingSpec], str]

    def endpoint(self, http: HttpFunction) -> Endpoint:
        async def handle(context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
            return await self.invoke(http, context, values)

        return Endpoint(
            name=f"Functions.{http.function.name}",
            template=RouteTemplate(http.route),
            methods=http.methods,
            auth_level=AuthLevel.parse(http.auth_level),
            handler=handle,
        )

    async def invoke(
        self, http: HttpFunction, context: RequestContext, values: dict[str, str]
    ) -> web.Response:
        """Run the function once; never raises (failures are a logged 500)."""
        function = http.function
        response = web.Response(status=500)
        with logs.invocation(function.name, HTTP_REASON) as invocation:
            try:
                clients = {b.name: self.client_json(b) for b in function.client_bindings}
                returned = await self.invoker.call(
                    function, to_rpc_http(context, values), clients, invocation.invocation_id
                )
                response = to_web_response(returned)
            except Exception as error:
                invocation.fail()
                log_failure(function.name, invocation.invocation_id, error)
        return response


def log_failure(function_name: str, invocation_id: str, error: BaseException) -> None:
    """The host's error line: the worker's exception message, then the user's stack."""
    if isinstance(error, FunctionFailed):
        message, stack = error.message, error.stack_trace
    else:
        message = f"{type(error).__name__}: {error}"
        stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    logs.function_logger(function_name).error(
        "Exception while executing function: Functions.%s (Id=%s). Result: Failure\n"
        "Exception: %s\nStack: %s",
        function_name,
        invocation_id,
        message,
        stack.rstrip(),
    )
