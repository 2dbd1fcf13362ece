"""Turn pydantic's validation errors into the domain's ``ValidationFailed`` / ``Unsupported``.

Messages name the field as a path (``steps[0].output.table_name``) and never repeat the input,
which may be a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sqlfleet.errors import BadRequest, FieldProblem, Unsupported, ValidationFailed
from sqlfleet.models.common import FIELD_RULE_ERROR, UNSUPPORTED_ERROR

ModelT = TypeVar("ModelT", bound=BaseModel)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VALIDATOR_STEP = re.compile(r"function-\w+\[.*\]", re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
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
        data = _parse_json(data)
    if not isinstance(data, dict):
        raise BadRequest("body", f"expected a JSON object describing a {_noun(model)}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        # ``from None``: the original error's text quotes the input, which may be a password.
        raise problems_error(error.errors(include_url=False, include_input=False)) from None


def _parse_json(text: str | bytes | bytearray) -> Any:
    try:
        data = json.loads(text or "null", parse_constant=_not_json)
        # JSON may escape half of a UTF-16 pair ("\ud800"); no database can store that.
        broken = _unpaired_surrogate(data, ())
    except RecursionError:
        raise BadRequest("body", "the body nests too deeply to be a document") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body", "the body is not valid JSON") from None
    if broken is not None:
        raise ValidationFailed(
            field_path(broken) or "body",
            "contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff); send valid Unicode",
        )
    return data


def _not_json(constant: str) -> Any:
    # json.loads would read NaN, Infinity and -Infinity, which JSON does not have.
    raise ValueError(constant)


def _unpaired_surrogate(value: Any, path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The path of the first string (or key) holding an unpaired surrogate, else None."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                return path
            found = _unpaired_surrogate(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unpaired_surrogate(item, (*path, index))
            if found is not None:
                return found
    return None


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
    """``('steps', 0, 'output', 'table_name')`` -> ``steps[0].output.table_name``.

    A key that is not an identifier (an unknown field such as ``""`` or ``"a.b"``) is shown
    quoted, ``steps[0]["a.b"]``, so that every path names something.
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _VALIDATOR_STEP.fullmatch(part) or part == "tagged-union":
            continue  # pydantic's name for a validator in a union, not a field
        elif not _IDENTIFIER.fullmatch(part):
            text += f"[{json.dumps(part)}]"
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
