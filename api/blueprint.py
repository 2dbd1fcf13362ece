"""The API blueprint and the one pipeline every handler runs in: route -> handler -> error mapping.

``operation`` registers a handler as an HTTP-triggered Function on ``bp`` and records what the
OpenAPI document says about it, so the document and the routes cannot drift apart.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel

from api.errors import error_response
from sqlfleet.access import Access, access_of, presented_key
from sqlfleet.errors import ReadOnlyAccess
from sqlfleet.runtime import settings

bp = df.Blueprint()
logger = logging.getLogger("sqlfleet.api")

Handler = Callable[[func.HttpRequest], func.HttpResponse]
AsyncHandler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


@dataclass(frozen=True)
class ListOf:
    """A response that is ``{"value": [item, ...]}``."""

    item: type[BaseModel]


@dataclass(frozen=True)
class QueryParameter:
    name: str
    schema: dict[str, object]
    description: str


@dataclass(frozen=True)
class Operation:
    """One route + method, as the OpenAPI document describes it."""

    function_name: str
    route: str
    method: str
    summary: str
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | ListOf | None] = field(default_factory=dict)
    query: tuple[QueryParameter, ...] = ()
    # Changes something: refused to read-only keys (sqlfleet.access).
    mutates: bool = False


OPERATIONS: list[Operation] = []


def request_access(req: func.HttpRequest) -> tuple[Access, str]:
    """What the request's key may do, and where the key came from (header or query)."""
    key, source = presented_key(req.headers, req.params)
    return access_of(key, settings().read_only_keys), source


def refuse_read_only(req: func.HttpRequest, method: str, route: str) -> None:
    """Raises ``ReadOnlyAccess`` when the request's key may only look."""
    access, source = request_access(req)
    if not access.may_act:
        raise ReadOnlyAccess(f"{method} /api/{route}", source)


def operation(
    route: str,
    method: str,
    *,
    name: str,
    summary: str,
    body: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | ListOf | None],
    query: tuple[QueryParameter, ...] = (),
    mutates: bool | None = None,
) -> Callable[[Any], Any]:
    """Register the decorated handler (plain or ``async``) as Function ``name`` on ``route``
    for ``method``.

    The handler parses, calls the domain and answers; any exception it raises is answered by
    ``api.errors.error_response``. ``mutates`` (default: any method but GET) refuses the
    request to a read-only key before the handler runs. Handlers that wait (long-polls) are
    ``async``, so that waiting holds no thread of the worker's pool.
    """
    changes = method != "GET" if mutates is None else mutates

    def finish(req: func.HttpRequest, response: func.HttpResponse) -> func.HttpResponse:
        # The route template, not the URL or body: neither may carry anything secret here.
        level = logging.INFO if response.status_code >= 400 else logging.DEBUG
        logger.log(level, "%s %s -> %d", method, route, response.status_code)
        return response

    def decorate(handler: Any) -> Any:
        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(req: func.HttpRequest) -> func.HttpResponse:
                try:
                    if changes:
                        refuse_read_only(req, method, route)
                    response = await handler(req)
                except Exception as error:  # noqa: BLE001 - the one place errors become answers
                    response = error_response(error, req)
                return finish(req, response)

            run: Any = run_async
        else:

            @functools.wraps(handler)
            def run_sync(req: func.HttpRequest) -> func.HttpResponse:
                try:
                    if changes:
                        refuse_read_only(req, method, route)
                    response = handler(req)
                except Exception as error:  # noqa: BLE001 - the one place errors become answers
                    response = error_response(error, req)
                return finish(req, response)

            run = run_sync

        OPERATIONS.append(
            Operation(name, route, method, summary, body, dict(responses), tuple(query), changes)
        )
        bp.function_name(name)(bp.route(route=route, methods=[method])(run))
        return run

    return decorate


ClientHandler = Callable[[func.HttpRequest, Any], Awaitable[func.HttpResponse]]


def client_operation(
    route: str,
    method: str,
    *,
    name: str,
    summary: str,
    body: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | ListOf | None],
    query: tuple[QueryParameter, ...] = (),
    mutates: bool | None = None,
) -> Callable[[ClientHandler], ClientHandler]:
    """Like ``operation``, for async handlers that also take the durable client:
    ``handler(req, client)`` may start, signal, terminate or purge orchestrations.

    The Function gets the SDK's ``durable_client_input``; the handler stays reachable as
    ``.client_function`` of the registered Function, which tests without a task hub call with
    ``client=None`` (handlers then leave orchestrations alone where they can).
    """

    changes = method != "GET" if mutates is None else mutates

    def decorate(handler: ClientHandler) -> ClientHandler:
        @functools.wraps(handler)
        async def run(req: func.HttpRequest, client: Any) -> func.HttpResponse:
            try:
                if changes:
                    refuse_read_only(req, method, route)
                response = await handler(req, client)
            except Exception as error:  # noqa: BLE001 - the one place errors become answers
                response = error_response(error, req)
            level = logging.INFO if response.status_code >= 400 else logging.DEBUG
            logger.log(level, "%s %s -> %d", method, route, response.status_code)
            return response

        OPERATIONS.append(
            Operation(name, route, method, summary, body, dict(responses), tuple(query), changes)
        )
        bp.function_name(name)(
            bp.route(route=route, methods=[method])(
                bp.durable_client_input(client_name="client")(run)
            )
        )
        return run

    return decorate
