"""Building blocks of the API models: limits, name and time types, field-level rule errors."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
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

# Names are URL path segments (/api/jobs/{name}); a slash or control character could not be
# addressed, so they are refused everywhere, not only where Elastic Jobs refuses them.
_FORBIDDEN_NAME_CHARACTERS = frozenset("/\\")


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
    if any(ch in _FORBIDDEN_NAME_CHARACTERS or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError(
            "name_characters", "names cannot contain '/', '\\' or control characters"
        )
    return value


def _check_job_name(value: str) -> str:
    if "%" in value:
        raise PydanticCustomError("job_name_percent", "job names cannot contain '%'")
    return value


def _check_text(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\r\n" for ch in value):
        raise PydanticCustomError("text_characters", "text cannot contain control characters")
    return value


def _canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise PydanticCustomError(
            "uuid", "expected a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e"
        ) from None


def _as_utc(value: dt.datetime) -> dt.datetime:
    # Elastic Jobs' times are all UTC: a time without offset is taken as UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


Name = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME_LENGTH, strict=True),
    AfterValidator(_check_name),
]
JobName = Annotated[Name, AfterValidator(_check_job_name)]
Description = Annotated[
    str, Field(max_length=MAX_DESCRIPTION_LENGTH, strict=True), AfterValidator(_check_text)
]
ServerName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_SERVER_NAME_LENGTH, strict=True),
    AfterValidator(_check_text),
]
Port = Annotated[int, Field(ge=1, le=MAX_PORT, strict=True)]
Uuid = Annotated[str, Field(strict=True), AfterValidator(_canonical_uuid)]
UtcDateTime = Annotated[dt.datetime, AfterValidator(_as_utc)]


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
