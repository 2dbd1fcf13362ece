"""The one mapping of domain errors to HTTP answers: status, stable ``code``, ``message``,
``field``. Anything unexpected is a 500 whose body says nothing about the internals."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
from pydantic import BaseModel

from sqlfleet.errors import (
    BadRequest,
    Conflict,
    JobDatabaseUnavailable,
    NotFound,
    SettingError,
    SqlFleetError,
    Unsupported,
    ValidationFailed,
)

logger = logging.getLogger("sqlfleet.api")

# Most specific first: BadRequest is a ValidationFailed, InUse a Conflict.
_STATUS: tuple[tuple[type[SqlFleetError], int], ...] = (
    (BadRequest, 400),
    (ValidationFailed, 422),
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


def error_response(error: BaseException) -> func.HttpResponse:
    """The HTTP answer for ``error`` (domain errors map by type; others are 500)."""
    if not isinstance(error, SqlFleetError):
        logger.error("internal error: %s", type(error).__name__, exc_info=error)
        body = ErrorBody(code="InternalError", message="internal error; see the app's logs")
        return _answer(500, body)
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 500)
    body = ErrorBody(code=error.code, message=error.message, field=getattr(error, "field", None))
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


def _answer(status: int, body: ErrorBody) -> func.HttpResponse:
    document: dict[str, Any] = body.model_dump(exclude_none=True)
    document.setdefault("field", None)
    return func.HttpResponse(json.dumps(document), status_code=status, mimetype="application/json")
