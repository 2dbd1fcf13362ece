"""``/api/openapi.json``: an OpenAPI 3.1 document generated from the routes and pydantic models."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import sqlfleet
from api.blueprint import OPERATIONS, ListOf, operation
from api.documents import answer_json
from api.errors import ErrorBody

Mode = Literal["validation", "serialization"]
_ERRORS = {
    400: "malformed request (not JSON, bad query parameter)",
    404: "no such object",
    409: "conflict with the current state (in use, active executions, duplicate)",
    422: "a field broke a rule; `field` names it",
    500: "server error (e.g. a setting is missing; `setting` names it)",
    501: "a known feature SQL Fleet does not support",
    503: "the job database is unavailable",
}
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")


@operation(
    "openapi.json",
    "GET",
    name="openapi_document",
    summary="This API's OpenAPI document",
    responses={200: None},
)
def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    return answer_json(openapi_document())


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of every operation registered on the API blueprint."""
    wanted: list[tuple[type[BaseModel], Mode]] = [(ErrorBody, "serialization")]
    for op in OPERATIONS:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        for response in op.responses.values():
            model = response.item if isinstance(response, ListOf) else response
            if model is not None:
                wanted.append((model, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, schemas = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        path = "/api/" + op.route
        item: dict[str, Any] = {
            "operationId": op.function_name,
            "summary": op.summary,
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in _PATH_PARAMETER.findall(op.route)
            ]
            + [
                {"name": q.name, "in": "query", "schema": q.schema, "description": q.description}
                for q in op.query
            ],
            "responses": {},
        }
        if op.body is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        for status, response in op.responses.items():
            item["responses"][str(status)] = _response(status, response, refs)
        for status, description in _ERRORS.items():
            item["responses"].setdefault(
                str(status),
                {
                    "description": description,
                    "content": {"application/json": {"schema": refs[(ErrorBody, "serialization")]}},
                },
            )
        paths.setdefault(path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SQL Fleet",
            "version": sqlfleet.__version__,
            "description": "Elastic Jobs for a fleet of SQL databases: credentials, target "
            "groups, jobs, versioned steps.",
        },
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }


def _response(
    status: int,
    response: type[BaseModel] | ListOf | None,
    refs: Mapping[Any, Any],
) -> dict[str, Any]:
    description = {200: "OK", 201: "Created", 204: "No Content"}.get(status, "OK")
    if response is None:
        return {"description": description}
    if isinstance(response, ListOf):
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                "value": {"type": "array", "items": refs[(response.item, "serialization")]}
            },
            "required": ["value"],
        }
    else:
        schema = refs[(response, "serialization")]
    return {"description": description, "content": {"application/json": {"schema": schema}}}
