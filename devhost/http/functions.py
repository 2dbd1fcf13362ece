"""httpTrigger functions: aiohttp request -> ``func.HttpRequest`` -> user code -> HTTP response.

Conversion follows the worker (reference §7.4): the request becomes
``func.HttpRequest(method, url, headers, params, route_params, body=bytes)``; durableClient
bindings are passed by keyword as the binding JSON; the return value is encoded as
``HttpResponseConverter`` does (a ``str`` is a 200 ``text/plain; charset=utf-8`` body; a
``func.HttpResponse`` without ``Content-Type`` gets its ``mimetype``, plus ``; charset=...`` for
``text/*``). ``None`` answers 204. An exception (or an unsupported return type) is logged with
the invocation line and answered 500 with an empty body.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from devhost import logs
from devhost.app import HttpFunction
from devhost.http.auth import AuthLevel
from devhost.http.pipeline import Endpoint, RequestContext
from devhost.http.routes import RouteTemplate
from devhost.invocation import ClientBindingSpec, FunctionRunner

HTTP_REASON = "This function was programmatically called via the host APIs."


def to_http_request(context: RequestContext, route_values: dict[str, str]) -> func.HttpRequest:
    headers = {name: ", ".join(context.headers.getall(name)) for name in context.headers}
    return func.HttpRequest(
        method=context.method,
        url=context.url,
        headers=headers,
        params=context.query.first_values(),
        route_params=route_values,
        body=context.body,
    )


class UnsupportedReturn(TypeError):
    """The function returned something the HTTP output binding cannot send."""


def to_web_response(result: Any) -> web.Response:
    """Encode a function's return value like ``HttpResponseConverter.encode``."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(
            status=200,
            body=result.encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
    if not isinstance(result, func.HttpResponse):
        raise UnsupportedReturn(
            f"an httpTrigger function returned {type(result).__name__}; "
            "return func.HttpResponse or str"
        )
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in result.headers.items():
        headers.add(name, value)
    if "content-type" not in headers:
        mimetype = result.mimetype
        headers["Content-Type"] = (
            f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
        )
    return web.Response(status=result.status_code, body=result.get_body() or b"", headers=headers)


@dataclass
class FunctionHandlers:
    """Builds one pipeline endpoint per httpTrigger function."""

    runner: FunctionRunner
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
                kwargs = self.runner.arguments(
                    function, to_http_request(context, values), clients, invocation.invocation_id
                )
                response = to_web_response(await self.runner.call(function, kwargs))
            except Exception as error:
                invocation.fail()
                log_failure(function.name, invocation.invocation_id, error)
        return response


def log_failure(function_name: str, invocation_id: str, error: BaseException) -> None:
    """The host's error line: exception type and message, then the user's stack."""
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    logs.function_logger(function_name).error(
        "Exception while executing function: Functions.%s (Id=%s). Result: Failure\n"
        "Exception: %s: %s\nStack: %s",
        function_name,
        invocation_id,
        type(error).__name__,
        error,
        stack.rstrip(),
    )
