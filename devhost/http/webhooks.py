"""What the Durable HTTP API handlers share: the task hub, the status answers and the 202 pattern.

The task hub is synchronous and thread-safe; handlers call it through :meth:`Webhooks.call`,
which runs it in a worker thread so the event loop keeps serving requests (and the SDK calls
that user functions make back into this same server).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from devhost.http.errors import HttpProblem, empty_response, json_response
from devhost.http.payloads import (
    DEFAULT_CONNECTION,
    argument_error,
    check_status_payload,
    management_urls,
    parse_json_or_raw,
    status_payload,
)
from devhost.http.pipeline import RequestContext
from devhost.taskhub import InstanceStatus, RuntimeStatus, TaskHub

T = TypeVar("T")

RUNNING_STATES = (
    RuntimeStatus.RUNNING,
    RuntimeStatus.PENDING,
    RuntimeStatus.CONTINUED_AS_NEW,
    RuntimeStatus.SUSPENDED,
)
FINISHED_STATES = (
    RuntimeStatus.COMPLETED,
    RuntimeStatus.TERMINATED,
    RuntimeStatus.CANCELED,
    RuntimeStatus.FAILED,
)
STATUS_RETRY_AFTER = "5"
CHECK_STATUS_RETRY_AFTER = "10"


@dataclass
class Webhooks:
    hub: TaskHub
    hub_name: str
    system_key: str | None = None

    async def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one task hub method in a worker thread."""
        return await asyncio.to_thread(functools.partial(method, *args, **kwargs))

    def urls(self, context: RequestContext, instance_id: str) -> dict[str, str]:
        """Management URLs for ``instance_id`` on the host the request came to."""
        hub = context.query.get("taskHub") or self.hub_name
        connection = context.query.get("connection") or DEFAULT_CONNECTION
        return management_urls(
            context.origin, instance_id, hub, connection=connection, system_key=self.system_key
        )

    def check_status_response(self, context: RequestContext, instance_id: str) -> web.Response:
        """202 with the check-status body, ``Location`` and ``Retry-After: 10`` (§5.2)."""
        urls = self.urls(context, instance_id)
        return json_response(
            202,
            check_status_payload(urls),
            {"Location": urls["statusQueryGetUri"], "Retry-After": CHECK_STATUS_RETRY_AFTER},
        )

    def status_response(
        self,
        context: RequestContext,
        status: InstanceStatus,
        *,
        show_input: bool,
        show_history_output: bool,
        failure_is_error: bool,
    ) -> web.Response:
        """The GET-status answer: 202 + Location/Retry-After while running, else 200 (or 500)."""
        body = status_payload(
            status, show_input=show_input, show_history_output=show_history_output
        )
        if status.runtime_status in RUNNING_STATES:
            # HttpApiHandler answers the request's own URL here (``location = request.RequestUri``),
            # not the statusQueryGetUri that a start answers with.
            return json_response(
                202, body, {"Location": context.url, "Retry-After": STATUS_RETRY_AFTER}
            )
        if status.runtime_status is RuntimeStatus.FAILED and failure_is_error:
            return json_response(500, body)
        return json_response(200, body)

    async def get_status_response(
        self, context: RequestContext, instance_id: str, failure_is_error: bool | None = None
    ) -> web.Response:
        """``HandleGetStatusRequestAsync``: reads the show* flags from the query."""
        query = context.query
        show_history = query.get_bool("showHistory") or False
        show_history_output = query.get_bool("showHistoryOutput") or False
        show_input = query.get_bool("showInput")
        show_input = True if show_input is None else show_input
        if failure_is_error is None:
            failure_is_error = query.get_bool("returnInternalServerErrorOnFailure") or False
        status = await self.call(
            self.hub.get_status, instance_id, show_history=show_history, show_input=show_input
        )
        if status is None:
            return empty_response(404)
        return self.status_response(
            context,
            status,
            show_input=show_input,
            show_history_output=show_history_output,
            failure_is_error=failure_is_error,
        )

    async def wait_or_check_status(
        self,
        context: RequestContext,
        instance_id: str,
        timeout: float,
        interval: float,
        still_running: Callable[[], Awaitable[web.Response]] | None = None,
    ) -> web.Response:
        """``WaitForCompletionOrCreateCheckStatusResponseAsync`` with seconds from the query."""
        if interval > timeout:
            raise HttpProblem(
                json_response(
                    400,
                    argument_error(
                        f"Total timeout {timeout:g} should be bigger than "
                        f"retry timeout {interval:g}"
                    ),
                )
            )
        started = time.monotonic()
        status: InstanceStatus | None = None
        while True:
            status = await self.call(self.hub.get_status, instance_id)
            if status is not None and status.runtime_status in FINISHED_STATES:
                break
            elapsed = time.monotonic() - started
            if elapsed >= timeout:
                break
            await asyncio.sleep(max(0.0, min(interval, timeout - elapsed)))
        if status is not None and status.runtime_status is RuntimeStatus.COMPLETED:
            return json_response(200, parse_json_or_raw(status.output))
        if status is not None and status.runtime_status in FINISHED_STATES:
            return await self.get_status_response(context, instance_id, failure_is_error=False)
        if still_running is not None:
            return await still_running()
        return self.check_status_response(context, instance_id)
