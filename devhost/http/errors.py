"""Error mapping: one place that turns exceptions into the HTTP answers the real host gives.

Durable engine errors map as the extension's ``HttpApiHandler`` maps them (reference §5):
ArgumentException-like errors (unknown function, bad instance id) are 400 with the
``{"Message", "ExceptionMessage", "ExceptionType", "StackTrace"}`` body, a missing instance is
404 and a finished one 410 with empty bodies, anything else is 500. Handlers that must answer
something special raise :class:`HttpProblem` with the exact response.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from devhost.http.payloads import argument_error, server_error
from devhost.taskhub import (
    InstanceExists,
    InstanceGone,
    InstanceNotFound,
    InvalidInstanceId,
    InvalidOperation,
    TaskHubError,
    UnknownFunction,
)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

logger = logging.getLogger("Host.General")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer with the extension's content type."""
    return web.Response(
        status=status,
        body=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": JSON_CONTENT_TYPE, **(headers or {})},
    )


def empty_response(status: int, headers: dict[str, str] | None = None) -> web.Response:
    """No body at all (the SDK reads an empty body as ``None``)."""
    return web.Response(status=status, headers=headers or {})


class HttpProblem(Exception):
    """Raised by a handler to answer with exactly this response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


def error_response(error: BaseException) -> web.Response:
    """Map any exception raised by a Durable API handler to its response."""
    if isinstance(error, HttpProblem):
        return error.response
    if isinstance(error, (UnknownFunction, InvalidInstanceId)):
        return json_response(400, argument_error(str(error)))
    if isinstance(error, InstanceNotFound):
        return empty_response(404)
    if isinstance(error, InstanceGone):
        return empty_response(410)
    if isinstance(error, (InstanceExists, InvalidOperation)):
        return json_response(500, server_error(str(error), "System.InvalidOperationException"))
    if isinstance(error, TaskHubError):
        return json_response(500, server_error(str(error)))
    logger.error("unhandled error in the Durable HTTP API: %s", error, exc_info=error)
    return json_response(500, server_error(f"{type(error).__name__}: {error}"))
