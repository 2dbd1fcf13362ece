"""``/api/openapi.json``: an OpenAPI 3.1 document generated from the routes and pydantic models."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

import sqlfleet
from api.blueprint import OPERATIONS, ListOf, Operation, operation
from api.documents import answer_json
from api.errors import ErrorBody
from sqlfleet.models.common import MAX_INT32, JobName, Name

Mode = Literal["validation", "serialization"]
_ERRORS = {
    400: "malformed request (not JSON, bad path or query parameter); `field` names it",
    403: "the key presented is read-only (SQLFLEET_READ_ONLY_KEYS); `field` says where it came "
    "from",
    404: "no such object; `field` names the parameter that named it",
    409: "conflict with the current state (in use, active executions, duplicate); `field` names "
    "the object",
    415: "the body is not sent as JSON (Content-Type: application/json); `field` is `Content-Type`",
    422: "a field broke a rule; `field` names it",
    500: "server error (e.g. a setting is missing; `setting` names it)",
    501: "a known feature SQL Fleet does not support; `field` names it",
    503: "the job database is unavailable",
}
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
_WHOLE_NUMBER = {"type": "integer", "minimum": 0, "maximum": MAX_INT32}
# Path parameters by name: what the handlers accept (``api.documents``).
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "name": TypeAdapter(Name).json_schema(),
    "step": {
        "anyOf": [{**_WHOLE_NUMBER, "minimum": 1}, TypeAdapter(Name).json_schema()],
        "description": "a step id, or a step name",
    },
    "version": _WHOLE_NUMBER,
    "step_id": _WHOLE_NUMBER,
    "ordinal": _WHOLE_NUMBER,
    "target_id": {"type": "string", "format": "uuid"},
    "id": {"type": "string", "format": "uuid"},
}
_JOB_NAME_SCHEMA = TypeAdapter(JobName).json_schema()
# The operations that parse a path parameter (not merely look a name up) answer 400 for it.
_PARSED_PATH_PARAMETERS = {"step", "version", "step_id", "ordinal", "target_id"}


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
                {"name": p, "in": "path", "required": True, "schema": _path_schema(op, p)}
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
        if op.function_name in _TEXT_ANSWERS:
            item["responses"]["200"] = {
                "description": "OK",
                "content": {_TEXT_ANSWERS[op.function_name]: {"schema": {"type": "string"}}},
            }
        for status in _error_statuses(op):
            item["responses"].setdefault(
                str(status),
                {
                    "description": _ERRORS[status],
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


def _path_schema(op: Operation, parameter: str) -> dict[str, Any]:
    if parameter == "name" and op.route.startswith("jobs/"):
        return _JOB_NAME_SCHEMA
    return _PATH_SCHEMAS.get(parameter, {"type": "string"})


# Routes that answer text rather than JSON, and its media type.
_TEXT_ANSWERS = {"metrics_get": "text/plain"}


def _error_statuses(op: Operation) -> list[int]:
    """The error answers ``op`` can give, from what it reads and does."""
    if op.function_name == "openapi_document":
        return []
    parameters = set(_PATH_PARAMETER.findall(op.route))
    statuses = [500, 503]
    if op.body is not None or op.query or parameters & _PARSED_PATH_PARAMETERS:
        statuses.append(400)
    if parameters:
        statuses.append(404)
    if op.mutates:
        statuses.append(403)
    if op.method != "GET":
        statuses.append(409)
    if op.body is not None or (op.method == "PUT" and "name" in parameters):
        statuses.append(422)
    if op.body is not None:
        statuses += [415, 501]
    return sorted(statuses)


def _response(
    status: int,
    response: type[BaseModel] | ListOf | None,
    refs: Mapping[Any, Any],
) -> dict[str, Any]:
    description = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}.get(
        status, _ERRORS.get(status, "OK")
    )
    if status == 204:
        return {"description": description}
    if response is None:
        # A handler without a declared model still answers a JSON object.
        return {
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
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
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if status == 201:
        answer["headers"] = {
            "Location": {"description": "the URL of what was created", "schema": {"type": "string"}}
        }
    return answer
