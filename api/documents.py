"""Reading requests and writing answers: JSON documents, path and query parameters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import azure.functions as func
from pydantic import BaseModel, TypeAdapter, ValidationError

from sqlfleet.errors import BadRequest, UnsupportedMediaType, ValidationFailed
from sqlfleet.models import validate_document
from sqlfleet.models.common import MAX_INT32, JobName, Name
from sqlfleet.models.validation import problems_error

ModelT = TypeVar("ModelT", bound=BaseModel)
_NAME = TypeAdapter(Name)
_JOB_NAME = TypeAdapter(JobName)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def read_document(req: func.HttpRequest, model: type[ModelT]) -> ModelT:
    """The request body validated as ``model``. Raises ``UnsupportedMediaType`` unless the body
    says it is JSON, ``BadRequest`` / ``ValidationFailed``.

    The content type is checked here, where the app decides to read a body as JSON: the host
    passes any body to any function, as Azure's does. A web page may send a ``text/plain`` or
    form body to another origin without asking first (no CORS preflight), but not JSON, so
    this keeps such a page from defining anything even where no key or origin check stops it.
    """
    content_type = req.headers.get("Content-Type")
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType(content_type)
    return validate_document(model, req.get_body())


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type (``application/merge-patch+json``), any case,
    with any parameters."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def path_name(req: func.HttpRequest, parameter: str = "name", *, job: bool = False) -> str:
    """A name from the route, checked as names in documents are (for create-or-replace)."""
    return _checked_name(_JOB_NAME if job else _NAME, req.route_params.get(parameter, ""), "name")


def _checked_name(adapter: TypeAdapter[str], value: str, field: str) -> str:
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        raise problems_error([{**e, "loc": (field,)} for e in problems]) from None


def route_value(req: func.HttpRequest, parameter: str) -> str:
    return str(req.route_params.get(parameter, ""))


def same_name(in_body: str | None, in_path: str) -> None:
    """A ``name`` in the body, if any, must be the one in the URL."""
    if in_body is not None and in_body != in_path:
        raise ValidationFailed(
            "name",
            f"is '{in_body}' but the URL names '{in_path}'; leave name out or make them equal",
        )


def query_flag(req: func.HttpRequest, name: str, default: bool = False) -> bool:
    """``?name=true|false`` (also 1/0, yes/no); ``default`` when absent. Raises ``BadRequest``."""
    raw = req.params.get(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise BadRequest(name, "expected true or false")


def query_int(req: func.HttpRequest, name: str, *, minimum: int = 0) -> int | None:
    """``?name=<whole number>``, None when absent. Raises ``BadRequest`` (an empty value too)."""
    raw = req.params.get(name)
    if raw is None:
        return None
    if not whole_number(raw) or int(raw) < minimum:
        raise BadRequest(name, f"expected a whole number from {minimum} to {MAX_INT32}")
    return int(raw)


def whole_number(raw: str) -> bool:
    """``raw`` is a whole number from 0 to ``MAX_INT32`` in ASCII digits (``str.isdigit`` also
    takes '²', which ``int`` refuses, and ``int`` refuses more than 4300 digits)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= MAX_INT32


def step_ref(req: func.HttpRequest, *, new: bool = False) -> int | str:
    """``{step}`` in a route: a step id when it is all digits, else a step name.

    ``new``: the name may create a step, so it must be a valid step name (``ValidationFailed``
    naming ``step`` otherwise); looking up a name that cannot exist simply finds nothing.
    """
    raw = route_value(req, "step")
    if raw.isascii() and raw.isdigit():
        if not whole_number(raw):
            raise BadRequest("step", f"a step id is a whole number from 1 to {MAX_INT32}")
        return int(raw)
    return _checked_name(_NAME, raw, "step") if new else raw


def answer(
    status: int, document: BaseModel | None = None, *, location: str | None = None
) -> func.HttpResponse:
    headers = {"Location": location} if location else None
    if document is None:
        return func.HttpResponse(status_code=status, headers=headers)
    return func.HttpResponse(
        document.model_dump_json(),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def answer_json(document: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(document), status_code=status, mimetype="application/json")


def answer_list(items: Sequence[BaseModel]) -> func.HttpResponse:
    body = "[" + ",".join(item.model_dump_json() for item in items) + "]"
    return func.HttpResponse('{"value":' + body + "}", status_code=200, mimetype="application/json")


def created_or_replaced(document: BaseModel, created: bool, location: str) -> func.HttpResponse:
    """201 with ``Location`` when created, 200 when an existing object was replaced."""
    return answer(201, document, location=location) if created else answer(200, document)


def url_path(*segments: str | int) -> str:
    """``/api/<segment>/...`` with each segment percent-encoded."""
    return "/api/" + "/".join(quote(str(segment), safe="") for segment in segments)
