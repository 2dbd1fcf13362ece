"""``POST /runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]`` (§5.1).

The body, when present, is the orchestrator input as JSON; it is stored as
``json.dumps(json.loads(body))``, which keeps the Python client's double encoding (its body is a
JSON string literal). The answer is the 202 check-status response, or with ``timeout`` and
``pollingInterval`` (seconds) the wait-for-completion answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web

from devhost.http.errors import HttpProblem, json_response
from devhost.http.pipeline import RequestContext
from devhost.http.webhooks import Webhooks


def invalid_json(error: ValueError) -> HttpProblem:
    return HttpProblem(
        json_response(
            400,
            {
                "Message": "Invalid JSON content",
                "ExceptionMessage": str(error),
                "ExceptionType": "Newtonsoft.Json.JsonReaderException",
                "StackTrace": None,
            },
        )
    )


def body_as_input_json(body: bytes) -> str | None:
    """``JsonConvert.DeserializeObject(body)`` re-serialized; None for an empty body.

    Raises HttpProblem (400 "Invalid JSON content") when the body is not JSON.
    """
    text = body.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise invalid_json(error) from error
    return None if value is None else json.dumps(value)


@dataclass
class OrchestratorHandlers:
    webhooks: Webhooks

    async def start(self, context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
        """Start an orchestration; 202 check-status (or 200/500 when waiting)."""
        hub = self.webhooks.hub
        input_json = body_as_input_json(context.body)
        instance_id = values.get("instanceId") or None
        version = context.query.get("version")
        new_id = await self.webhooks.call(
            hub.start_orchestration, values["functionName"], input_json, instance_id, version
        )
        timeout = context.query.get_float("timeout")
        interval = context.query.get_float("pollingInterval")
        if timeout is not None and interval is not None:
            return await self.webhooks.wait_or_check_status(context, new_id, timeout, interval)
        return self.webhooks.check_status_response(context, new_id)
