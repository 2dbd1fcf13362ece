"""``/runtime/webhooks/durabletask/instances/...``: status, list, purge, events, lifecycle (§5.1).

Every answer mirrors ``HttpApiHandler``: the instance is looked up first (404 when unknown),
finished instances answer 410 to terminate/suspend/resume/rewind/raiseEvent, accepted commands
answer 202 with an empty body; a rewind the engine cannot do answers 501. ``restart`` answers
202 with the new instance id as a JSON string (what azure-functions-durable's ``restart()``
returns to the caller), plus the ``Location`` and ``Retry-After`` headers of the check-status
pattern.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from aiohttp import web

from devhost.http.errors import HttpProblem, empty_response, json_response
from devhost.http.orchestrators import invalid_json
from devhost.http.payloads import argument_error, status_payload
from devhost.http.pipeline import QueryParams, RequestContext
from devhost.http.webhooks import CHECK_STATUS_RETRY_AFTER, FINISHED_STATES, Webhooks
from devhost.taskhub import (
    InstanceNotFound,
    InstanceQuery,
    InvalidOperation,
    RuntimeStatus,
    UnknownFunction,
)

CONTINUATION_HEADER = "x-ms-continuation-token"
DEFAULT_PAGE_SIZE = 100
_REWIND_GONE = (RuntimeStatus.CANCELED, RuntimeStatus.TERMINATED, RuntimeStatus.COMPLETED)
_BY_CODE = {str(status.code): status for status in RuntimeStatus}
_BY_NAME = {status.value: status for status in RuntimeStatus}


def page_headers(token: str | None) -> dict[str, str]:
    """``x-ms-continuation-token`` only when another page exists: a client pages until the header
    is absent (an empty value would be sent back as a token)."""
    return {CONTINUATION_HEADER: token} if token else {}


def runtime_statuses(query: QueryParams) -> list[RuntimeStatus]:
    """``runtimeStatus``, comma-separated and/or repeated; names as ``Enum.TryParse`` reads them
    (exact case, or the number); unknown values are ignored."""
    found: list[RuntimeStatus] = []
    for value in query.get_all("runtimeStatus"):
        for part in value.split(","):
            status = _BY_NAME.get(part.strip()) or _BY_CODE.get(part.strip())
            if status is not None and status not in found:
                found.append(status)
    return found


@dataclass
class InstanceHandlers:
    webhooks: Webhooks

    async def get(self, context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
        """One instance's status, or the list when no id is given."""
        instance_id = values.get("instanceId")
        if instance_id:
            return await self.webhooks.get_status_response(context, instance_id)
        return await self.list(context)

    async def list(self, context: RequestContext) -> web.StreamResponse:
        query = context.query
        show_input = query.get_bool("showInput")
        top = query.get_int("top")
        condition = InstanceQuery(
            created_from=query.get_datetime("createdTimeFrom"),
            created_to=query.get_datetime("createdTimeTo"),
            statuses=tuple(runtime_statuses(query)),
            instance_id_prefix=query.get("instanceIdPrefix"),
            top=top if top is not None and top > 0 else DEFAULT_PAGE_SIZE,
            continuation_token=context.headers.get(CONTINUATION_HEADER) or None,
            show_input=True if show_input is None else show_input,
        )
        page, token = await self.webhooks.call(self.webhooks.hub.query_instances, condition)
        body = [status_payload(status, show_input=condition.show_input) for status in page]
        return json_response(200, body, page_headers(token))

    async def delete(self, context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
        """Purge one instance, or every instance matching the filter."""
        hub = self.webhooks.hub
        instance_id = values.get("instanceId")
        if instance_id:
            if await self.webhooks.call(hub.get_status, instance_id) is None:
                return empty_response(404)
            deleted = await self.webhooks.call(hub.purge_instance, instance_id)
            return json_response(200, {"instancesDeleted": deleted})
        created_from = context.query.get_datetime("createdTimeFrom")
        if created_from is None:
            return json_response(400, "Please provide value for 'createdTimeFrom' parameter.")
        created_to = context.query.get_datetime("createdTimeTo") or dt.datetime.now(dt.timezone.utc)
        deleted = await self.webhooks.call(
            hub.purge_instances, created_from, created_to, tuple(runtime_statuses(context.query))
        )
        if not deleted:
            return empty_response(404)
        return json_response(200, {"instancesDeleted": deleted})

    async def operation(
        self, context: RequestContext, values: dict[str, str]
    ) -> web.StreamResponse:
        """POST instances/{id}/{terminate|suspend|resume|rewind|restart}."""
        instance_id, operation = values["instanceId"], values["operation"].lower()
        if operation == "restart":
            return await self.restart(context, instance_id)
        hub = self.webhooks.hub
        commands = {
            "terminate": hub.terminate,
            "suspend": hub.suspend,
            "resume": hub.resume,
            "rewind": hub.rewind,
        }
        if operation not in commands:
            return empty_response(404)
        status = await self.webhooks.call(hub.get_status, instance_id)
        if status is None:
            return empty_response(404)
        gone = _REWIND_GONE if operation == "rewind" else FINISHED_STATES
        if status.runtime_status in gone:
            return empty_response(410)
        try:
            await self.webhooks.call(commands[operation], instance_id, context.query.get("reason"))
        except InvalidOperation as error:
            if operation == "rewind" and status.runtime_status is RuntimeStatus.FAILED:
                # A failed instance is exactly what rewind accepts: refusing it means the
                # engine lacks the feature, which is a 501, not the 500 of a wrong state.
                raise HttpProblem(
                    json_response(501, {"code": "RewindNotSupported", "Message": str(error)})
                ) from error
            raise
        return empty_response(202)

    async def restart(self, context: RequestContext, instance_id: str) -> web.StreamResponse:
        with_new_id = context.query.get_bool("restartWithNewInstanceId")
        try:
            new_id = await self.webhooks.call(
                self.webhooks.hub.restart, instance_id, True if with_new_id is None else with_new_id
            )
        except (InstanceNotFound, UnknownFunction) as error:
            body = argument_error(str(error))
            body["Message"] = "InstanceId does not match a valid orchestration instance."
            raise HttpProblem(json_response(400, body)) from error

        async def accepted() -> web.Response:
            urls = self.webhooks.urls(context, new_id)
            return json_response(
                202,
                new_id,
                {"Location": urls["statusQueryGetUri"], "Retry-After": CHECK_STATUS_RETRY_AFTER},
            )

        timeout = context.query.get_float("timeout")
        interval = context.query.get_float("pollingInterval")
        if timeout is not None and interval is not None:
            return await self.webhooks.wait_or_check_status(
                context, new_id, timeout, interval, still_running=accepted
            )
        return await accepted()

    async def raise_event(
        self, context: RequestContext, values: dict[str, str]
    ) -> web.StreamResponse:
        """POST instances/{id}/raiseEvent/{eventName}: JSON body only."""
        hub = self.webhooks.hub
        instance_id = values["instanceId"]
        status = await self.webhooks.call(hub.get_status, instance_id)
        if status is None:
            return empty_response(404)
        if status.runtime_status in FINISHED_STATES:
            return empty_response(410)
        if context.media_type != "application/json":
            return json_response(
                400, {"Message": "Only application/json request content is supported"}
            )
        text = context.body.decode("utf-8-sig", errors="replace")
        try:
            value = json.loads(text) if text.strip() else None
        except ValueError as error:
            raise invalid_json(error) from error
        await self.webhooks.call(
            hub.raise_event, instance_id, values["eventName"], json.dumps(value)
        )
        return empty_response(202)
