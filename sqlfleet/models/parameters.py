"""Job parameters: what a job declares, what a start sends, and the values an execution runs with.

A job declares each parameter's name, type (``string``, ``int``, ``decimal``, ``bool``,
``datetime``), an optional default and a ``secret`` flag. A start sends ``{"parameters": {name:
value}}``; ``resolve`` checks the values against the declarations (missing, unknown and
ill-typed values are ``ValidationFailed`` naming ``parameters.<name>``) and gives each its
canonical text, which ``sqlfleet.literals`` turns into a literal of the target's engine. Secret
values are never shown: ``redacted`` gives ``***`` in their place.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field, model_validator

from sqlfleet.errors import ValidationFailed
from sqlfleet.models.common import ApiModel, field_error
from sqlfleet.parameterkinds import (
    IDENTIFIER_SUFFIX,
    LITERAL_SUFFIX,
    ParameterType,
    ParameterValueOf,
)

MAX_PARAMETERS = 100
MAX_PARAMETER_NAME_LENGTH = 128
MAX_PARAMETER_TEXT_LENGTH = 65_536
# Beyond these a decimal is no longer exact on every engine (SQL Server: decimal(38)).
MAX_DECIMAL_DIGITS = 38
PARAMETER_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NAME = re.compile(PARAMETER_NAME_PATTERN)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_MIN_INT64, _MAX_INT64 = -(2**63), 2**63 - 1


ParameterName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PARAMETER_NAME_LENGTH,
        pattern=PARAMETER_NAME_PATTERN,
        strict=True,
    ),
]
ParameterValue = str | int | float | bool


class ParameterDeclaration(ApiModel):
    """One parameter of a job; a script uses it as ``$(name)``, which becomes a literal of the
    target's engine. ``secret`` values are never shown (``***``) and take no default."""

    name: ParameterName
    type: ParameterType = ParameterType.STRING
    default: ParameterValue | None = None
    secret: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="after")
    def _rules(self) -> ParameterDeclaration:
        from sqlfleet.scripts import SCRIPT_VARIABLES

        lowered = self.name.lower()
        if lowered in SCRIPT_VARIABLES or lowered.endswith((LITERAL_SUFFIX, IDENTIFIER_SUFFIX)):
            raise field_error(
                "name",
                f"'{self.name}' is a built-in script variable's name (or ends in "
                f"{LITERAL_SUFFIX} or {IDENTIFIER_SUFFIX}); choose another",
            )
        if self.default is not None:
            if self.secret:
                raise field_error(
                    "default", "a secret parameter takes no default; send it with each start"
                )
            try:
                canonical(self.type, self.default)
            except ValueError:
                raise field_error(
                    "default", f"is not a valid {self.type.value} (see the type's rules)"
                ) from None
        return self


Declarations = Annotated[list[ParameterDeclaration], Field(max_length=MAX_PARAMETERS)]


def check_declarations(declarations: Sequence[ParameterDeclaration]) -> None:
    """Raises a field error naming ``parameters[i].name`` when two names are the same but for
    case (script variables are case-insensitive); call it from a model validator."""
    seen: dict[str, int] = {}
    for index, declaration in enumerate(declarations):
        key = declaration.name.lower()
        if key in seen:
            raise field_error(
                f"parameters[{index}].name", f"repeats the name of parameters[{seen[key]}]"
            )
        seen[key] = index


class StartIn(ApiModel):
    """The body of ``POST /api/jobs/{name}/start`` (optional): the parameter values."""

    parameters: Annotated[dict[str, Any], Field(max_length=MAX_PARAMETERS)] = {}


def resolve(
    declarations: Sequence[ParameterDeclaration], values: Mapping[str, Any], job_name: str
) -> list[ParameterValueOf]:
    """The values to run with: each declared parameter's value (sent, else its default).

    Raises ``ValidationFailed`` naming ``parameters.<name>``: a value for no declared parameter,
    a declared one without value or default, a value not of the declared type.
    """
    by_name = {declaration.name.lower(): declaration for declaration in declarations}
    for name in values:
        if name.lower() not in by_name:
            declared = ", ".join(d.name for d in declarations) or "none"
            raise ValidationFailed(
                f"parameters.{name}",
                f"job '{job_name}' declares no parameter '{name}' (it declares: {declared})",
            )
    sent = {name.lower(): value for name, value in values.items()}
    resolved = []
    for declaration in declarations:
        value = sent.get(declaration.name.lower(), declaration.default)
        field = f"parameters.{declaration.name}"
        if value is None:
            raise ValidationFailed(
                field, f"job '{job_name}' needs a value for parameter '{declaration.name}'"
            )
        try:
            text = canonical(declaration.type, value)
        except ValueError as error:
            raise ValidationFailed(field, str(error)) from None
        resolved.append(
            ParameterValueOf(declaration.name, declaration.type, text, declaration.secret)
        )
    return resolved


def canonical(kind: ParameterType, value: Any) -> str:
    """The canonical text of ``value`` as a ``kind``; ``ValueError`` saying what was expected.

    Text is taken for every type (the CLI sends ``--parameter n=5`` as text): ``int`` and
    ``decimal`` must be plain numbers, ``bool`` true/false/1/0, ``datetime`` RFC 3339 (UTC
    when it has no offset; kept as UTC).
    """
    if kind == ParameterType.STRING:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_shown(value)}")
        if "\x00" in value:
            raise ValueError("a string parameter cannot contain the NUL character")
        if len(value) > MAX_PARAMETER_TEXT_LENGTH:
            raise ValueError(f"longer than {MAX_PARAMETER_TEXT_LENGTH} characters")
        return value
    if kind == ParameterType.INT:
        return _int_text(value)
    if kind == ParameterType.DECIMAL:
        return _decimal_text(value)
    if kind == ParameterType.BOOL:
        return _bool_text(value)
    return _datetime_text(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise ValueError(f"expected an int, got {_shown(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected an int, got {_shown(value)}")
        value = int(value)
    text = str(value).strip()
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"expected an int (digits, optionally signed), got {_shown(value)}")
    number = int(text)
    if not _MIN_INT64 <= number <= _MAX_INT64:
        raise ValueError(f"{number} is out of range for a 64-bit int")
    return str(number)


def _decimal_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise ValueError(f"expected a decimal number, got {_shown(value)}")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"expected a decimal number such as -12.50, got {_shown(value)}")
    number = decimal.Decimal(text)
    digits = len(number.as_tuple().digits)
    if digits > MAX_DECIMAL_DIGITS:
        raise ValueError(f"has {digits} digits; at most {MAX_DECIMAL_DIGITS}")
    return format(number, "f")


def _bool_text(value: Any) -> str:
    spelled = {"true": True, "false": False, "1": True, "0": False}
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in spelled:
        return "true" if spelled[value.strip().lower()] else "false"
    raise ValueError(f"expected true or false, got {_shown(value)}")


def _datetime_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 date-time, got {_shown(value)}")
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expected an RFC 3339 date-time such as 2024-05-01T09:30:00Z, got {_shown(value)}"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
