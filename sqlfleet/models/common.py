"""Building blocks of the API models: limits, name and time types, field-level rule errors."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

# Elastic Jobs' column sizes: names nvarchar(128), description nvarchar(512), servers nvarchar(256).
MAX_NAME_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 512
MAX_SERVER_NAME_LENGTH = 256
MAX_PORT = 65535
# Counts and seconds are stored as 32-bit integers (Elastic Jobs' int columns).
MAX_INT32 = 2_147_483_647

# Error types that ``validation.validate_document`` recognises in pydantic's error list.
FIELD_RULE_ERROR = "field_rule"
UNSUPPORTED_ERROR = "unsupported"

# Names are URL path segments (/api/jobs/{name}): a slash, a control character (C0 or C1) or a
# dot segment ('.', '..', which URLs normalise away) could not be addressed, so they are refused
# everywhere, not only where Elastic Jobs refuses them. The JSON Schema pattern says the same as
# ``_check_name`` (tests hold them together); it is written without look-arounds so that every
# regex dialect (ECMA-262, Python, Rust) reads it alike.
_FORBIDDEN_IN_NAMES = r"/\\\u0000-\u001f\u007f-\u009f"
# What ``str.strip`` removes, less the control characters refused anyway.
_SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_DOT_SEGMENTS = (".", "..")


def name_pattern(also_forbidden: str = "") -> str:
    """The JSON Schema ``pattern`` of names (``also_forbidden``: more characters to refuse)."""
    anywhere = _FORBIDDEN_IN_NAMES + re.escape(also_forbidden)
    edge, inner = f"[^{anywhere}{_SPACE}]", f"[^{anywhere}]"
    not_dot = f"[^{anywhere}{_SPACE}.]"
    # One character but '.', two but '..', or three and more.
    return f"^(?:{not_dot}|{not_dot}{edge}|\\.{not_dot}|{edge}{inner}+{edge})$"


NAME_PATTERN = name_pattern()
JOB_NAME_PATTERN = name_pattern("%")
_FORBIDDEN_NAME_CHARACTERS = re.compile(f"[{_FORBIDDEN_IN_NAMES}]")
# Free text (descriptions, server names) may hold tabs and line breaks, no other C0 control.
_CONTROL_IN_TEXT = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f]")
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f]*$"
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})?"
)


def field_error(field: str, message: str) -> PydanticCustomError:
    """A rule broken by ``field`` of the model being validated (raised from a model validator).

    The error's location is the model's; ``field`` is appended to it when the path is reported.
    ``message`` must not contain braces or user input.
    """
    return PydanticCustomError(FIELD_RULE_ERROR, message, {"field": field})


def unsupported_error(field: str, feature: str) -> PydanticCustomError:
    """A known feature SQL Fleet does not implement; reported as 501, not as a validation error."""
    return PydanticCustomError(
        UNSUPPORTED_ERROR, "not supported", {"field": field, "feature": feature}
    )


def _check_name(value: str) -> str:
    if value != value.strip():
        raise PydanticCustomError("name_whitespace", "names cannot start or end with white space")
    if _FORBIDDEN_NAME_CHARACTERS.search(value):
        raise PydanticCustomError(
            "name_characters", "names cannot contain '/', '\\' or control characters"
        )
    if value in _DOT_SEGMENTS:
        raise PydanticCustomError(
            "name_dots", "names cannot be '.' or '..' (a URL cannot address them)"
        )
    return value


def _check_job_name(value: str) -> str:
    if "%" in value:
        raise PydanticCustomError("job_name_percent", "job names cannot contain '%'")
    return value


def check_text(value: str) -> str:
    """Free text: tabs and line breaks, no other C0 control character."""
    if _CONTROL_IN_TEXT.search(value):
        raise PydanticCustomError("text_characters", "text cannot contain control characters")
    return value


def _canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise PydanticCustomError(
            "uuid", "expected a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e"
        ) from None


def _whole_number(value: Any) -> Any:
    # JSON Schema's "integer" includes 2.0; strings and booleans stay errors (strict ints).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _date_time_text(value: Any) -> Any:
    # Only RFC 3339 text (the offset may be left out: UTC), never pydantic's lax extras such as
    # numbers of seconds since 1970 or a date alone.
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise PydanticCustomError(
            "date_time", "expected an RFC 3339 date-time such as 2024-05-01T09:30:00Z"
        )
    return value


def _as_utc(value: dt.datetime) -> dt.datetime:
    # Elastic Jobs' times are all UTC: a time without offset is taken as UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _name_field(pattern: str) -> Any:
    return Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        strict=True,
        json_schema_extra={"pattern": pattern},
    )


Name = Annotated[str, _name_field(NAME_PATTERN), AfterValidator(_check_name)]
JobName = Annotated[
    str, _name_field(JOB_NAME_PATTERN), AfterValidator(_check_name), AfterValidator(_check_job_name)
]
Description = Annotated[
    str,
    Field(
        max_length=MAX_DESCRIPTION_LENGTH, strict=True, json_schema_extra={"pattern": TEXT_PATTERN}
    ),
    AfterValidator(check_text),
]
ServerName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_SERVER_NAME_LENGTH,
        strict=True,
        json_schema_extra={"pattern": TEXT_PATTERN},
    ),
    AfterValidator(check_text),
]
# Put it after the bounds: constraints after a function validator leave the JSON Schema.
WHOLE_NUMBER = BeforeValidator(_whole_number)
Port = Annotated[int, Field(ge=1, le=MAX_PORT, strict=True), WHOLE_NUMBER]
Uuid = Annotated[
    str, Field(strict=True, json_schema_extra={"format": "uuid"}), AfterValidator(_canonical_uuid)
]
UtcDateTime = Annotated[dt.datetime, BeforeValidator(_date_time_text), AfterValidator(_as_utc)]


def spelled(enum_type: type[Enum], aliases: Mapping[str, str]) -> tuple[Any, Any]:
    """Validators that also take ``aliases`` (other spellings of the enum's values, such as
    T-SQL's ``Minutes`` or PowerShell's ``Minute``), so the API takes what the CLI takes; the
    JSON Schema lists every spelling."""
    values = [str(member.value) for member in enum_type]
    spellings = {alias: value for alias, value in aliases.items() if alias not in values}

    def canonical(value: Any) -> Any:
        return spellings.get(value, value) if isinstance(value, str) else value

    schema = {"type": "string", "enum": values + list(spellings)}
    return BeforeValidator(canonical), WithJsonSchema(schema, mode="validation")


class ApiModel(BaseModel):
    """Base of documents clients send: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DocumentModel(BaseModel):
    """Base of documents SQL Fleet answers with."""

    model_config = ConfigDict(frozen=True)


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock of the job store)."""
    return dt.datetime.now(dt.timezone.utc)


def new_id() -> str:
    """A new random id (uniqueidentifier in Elastic Jobs)."""
    return str(uuid.uuid4())
