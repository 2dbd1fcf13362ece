"""``/runtime/webhooks/durabletask/entities/{entityName}[/{entityKey}]`` (§5.1).

GET with a key reads one entity (``$`` is the empty key): 200 with the state as the body, 404
when it does not exist. GET without a key lists the entities of that name, and GET without a
name every entity of the task hub (``fetchState``, ``top``, ``lastOperationTimeFrom/To``, the
``x-ms-continuation-token`` request header, answered only when another page exists, as
:func:`~devhost.http.instances.page_headers` says). POST signals operation ``op``
(default ``""``) and DELETE signals ``delete``; both answer 202. As in the extension, argument
errors on these routes answer 400 with just ``{"Message": ...}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web

from devhost.http.errors import HttpProblem, empty_response, json_response
from devhost.http.instances import CONTINUATION_HEADER, DEFAULT_PAGE_SIZE, page_headers
from devhost.http.payloads import entity_payload, parse_json_or_raw
from devhost.http.pipeline import RequestContext
from devhost.http.webhooks import Webhooks
from devhost.taskhub import UnknownFunction

EMPTY_KEY_SYMBOL = "$"


def bad_request(message: str) -> HttpProblem:
    return HttpProblem(json_response(400, {"Message": message}))


def _check_key(key: str) -> None:
    if any(c in "/\\#?" or ord(c) < 32 or 127 <= ord(c) < 160 for c in key):
        raise bad_request("Entity keys must not contain /, \\, #, ?, or control characters.")


@dataclass
class EntityHandlers:
    webhooks: Webhooks

    async def get(self, context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
        name = values.get("entityName") or ""
        key = values.get("entityKey") or ""
        try:
            if not key:
                return await self.list(context, name.lower())
            if key == EMPTY_KEY_SYMBOL:
                key = ""
            if not name:
                raise bad_request("Value cannot be null. (Parameter 'entityName')")
            entity = await self.webhooks.call(self.webhooks.hub.read_entity, name.lower(), key)
        except UnknownFunction as error:
            raise bad_request(str(error)) from error
        if entity is None or entity.state is None:
            return empty_response(404)
        return json_response(200, parse_json_or_raw(entity.state))

    async def list(self, context: RequestContext, name: str) -> web.StreamResponse:
        """One page of entities named ``name`` (every entity when ``name`` is empty)."""
        query = context.query
        top = query.get_int("top")
        fetch_state = query.get_bool("fetchState") or False
        page, token = await self.webhooks.call(
            self.webhooks.hub.query_entities,
            name,
            fetch_state=fetch_state,
            top=top if top is not None and top > 0 else DEFAULT_PAGE_SIZE,
            continuation_token=context.headers.get(CONTINUATION_HEADER) or None,
            last_operation_from=query.get_datetime("lastOperationTimeFrom"),
            last_operation_to=query.get_datetime("lastOperationTimeTo"),
        )
        body = [entity_payload(entity, fetch_state=fetch_state) for entity in page]
        return json_response(200, body, page_headers(token))

    async def signal(self, context: RequestContext, values: dict[str, str]) -> web.StreamResponse:
        """POST (operation ``op``) or DELETE (operation ``delete``) one entity."""
        name = values.get("entityName") or ""
        key = values.get("entityKey") or ""
        if not name:
            raise bad_request("Value cannot be null. (Parameter 'entityName')")
        _check_key(key)
        operation = "delete" if context.method == "DELETE" else (context.query.get("op") or "")
        input_json: str | None = None
        if context.body:
            text = context.body.decode("utf-8-sig", errors="replace")
            if context.media_type == "application/json":
                try:
                    input_json = json.dumps(json.loads(text))
                except ValueError as error:
                    raise bad_request(f"Could not parse JSON content: {error}") from error
            else:
                input_json = json.dumps(text)
        try:
            await self.webhooks.call(
                self.webhooks.hub.signal_entity, name.lower(), key, operation, input_json
            )
        except UnknownFunction as error:
            raise bad_request(str(error)) from error
        return empty_response(202)
