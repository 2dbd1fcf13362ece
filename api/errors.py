"""The one mapping of domain errors to HTTP answers: status, stable ``code``, ``message``,
``field``. Anything unexpected is a 500 whose body says nothing about the internals."""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ValidationError

from sqlfleet.errors import (
    BadRequest,
    Conflict,
    JobDatabaseUnavailable,
    NotFound,
    ReadOnlyAccess,
    SettingError,
    SqlFleetError,
    Unsupported,
    UnsupportedMediaType,
    ValidationFailed,
)

logger = logging.getLogger("sqlfleet.api")

# Most specific first: BadRequest is a ValidationFailed, InUse a Conflict.
_STATUS: tuple[tuple[type[SqlFleetError], int], ...] = (
    (UnsupportedMediaType, 415),
    (BadRequest, 400),
    (ValidationFailed, 422),
    (ReadOnlyAccess, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unsupported, 501),
    (JobDatabaseUnavailable, 503),
    (SettingError, 500),
)


class FieldErrorBody(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer. ``field`` names the offending input field when there is one."""

    code: str
    message: str
    field: str | None = None
    errors: list[FieldErrorBody] | None = None
    setting: str | None = None


def error_response(error: BaseException, req: func.HttpRequest | None = None) -> func.HttpResponse:
    """The HTTP answer for ``error`` (domain errors map by type; others are 500).

    ``req``, when given, lets a ``NotFound`` or ``Conflict`` name its field: the path parameter
    (or top-level body field) whose value is the object's name.
    """
    if not isinstance(error, SqlFleetError):
        _log_internal_error(error)
        body = ErrorBody(code="InternalError", message="internal error; see the app's logs")
        return _answer(500, body)
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 500)
    field = getattr(error, "field", None)
    if field is None and isinstance(error, (NotFound, Conflict)) and req is not None:
        field = _field_naming(str(error.name), req)
    body = ErrorBody(code=error.code, message=error.message, field=field)
    if isinstance(error, ValidationFailed):
        body.errors = [FieldErrorBody(field=p.field, message=p.message) for p in error.problems]
    if isinstance(error, SettingError):
        body.setting = error.setting
        logger.error("%s", error.message)
    elif status >= 500:
        logger.warning("%s", error.message)
    else:
        logger.info("%s: %s", error.code, error.message)
    return _answer(status, body)


def _field_naming(value: str, req: func.HttpRequest) -> str | None:
    for parameters in (req.route_params, req.params):
        for parameter, given in parameters.items():
            if given == value:
                return str(parameter)
    try:
        document = json.loads(req.get_body() or b"null")
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict):
        return next((key for key, given in document.items() if given == value), None)
    return None


def _log_internal_error(error: BaseException) -> None:
    if isinstance(error, ValidationError):
        # str(ValidationError) quotes the input, which may be a password: log where it came
        # from and what failed, never the values.
        problems = error.errors(include_url=False, include_input=False, include_context=False)
        frames = "".join(traceback.format_tb(error.__traceback__))
        logger.error("internal error: ValidationError %s\n%s", problems, frames)
        return
    logger.error("internal error: %s", type(error).__name__, exc_info=error)


def _answer(status: int, body: ErrorBody) -> func.HttpResponse:
    document: dict[str, Any] = body.model_dump(exclude_none=True)
    document.setdefault("field", None)
    return func.HttpResponse(json.dumps(document), status_code=status, mimetype="application/json")
