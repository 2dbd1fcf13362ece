"""Turn pydantic's validation errors into the domain's ``ValidationFailed`` / ``Unsupported``.

Messages name the field as a path (``steps[0].output.table_name``) and never repeat the input,
which may be a secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sqlfleet.errors import BadRequest, FieldProblem, Unsupported, ValidationFailed
from sqlfleet.models.common import FIELD_RULE_ERROR, UNSUPPORTED_ERROR

ModelT = TypeVar("ModelT", bound=BaseModel)

_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this document; check the spelling",
}


def validate_document(model: type[ModelT], data: Any) -> ModelT:
    """Validate ``data`` (a mapping, or JSON text/bytes) as ``model``.

    Raises ``BadRequest`` (not JSON, not an object), ``ValidationFailed`` naming the first bad
    field and listing all, or ``Unsupported`` for a known feature SQL Fleet lacks.
    """
    if isinstance(data, (bytes, bytearray, str)):
        try:
            data = json.loads(data or "null")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("body", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body", f"expected a JSON object describing a {_noun(model)}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        # ``from None``: the original error's text quotes the input, which may be a password.
        raise problems_error(error.errors(include_url=False, include_input=False)) from None


def problems_error(errors: Sequence[Any]) -> ValidationFailed | Unsupported:
    """The domain error for pydantic's ``errors()`` list."""
    problems: list[FieldProblem] = []
    for error in errors:
        ctx = error.get("ctx") or {}
        path = field_path(error["loc"], ctx.get("field"))
        if error["type"] == UNSUPPORTED_ERROR:
            return Unsupported(str(ctx.get("feature", "this feature")), field=path)
        message = _FRIENDLY.get(error["type"], error["msg"])
        if error["type"] == FIELD_RULE_ERROR:
            message = error["msg"]
        problems.append(FieldProblem(path, message))
    first = problems[0]
    return ValidationFailed(first.field, first.message, problems)


def field_path(loc: Sequence[Any], extra: str | None = None) -> str:
    """``('steps', 0, 'output', 'table_name')`` -> ``steps[0].output.table_name``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("function-") or part in ("tagged-union",):
            continue
        else:
            text += f".{part}" if text else str(part)
    if extra:
        if extra.startswith("[") or not text:
            text += extra
        else:
            text += f".{extra}"
    return text


def _noun(model: type[BaseModel]) -> str:
    name = model.__name__.removesuffix("In")
    return "".join(f" {ch.lower()}" if ch.isupper() else ch for ch in name).strip()
