"""What a script needs to know of parameter values, without pydantic: their types, the value an
execution runs with, and the names reserved for quoted forms (``sqlfleet.models.parameters``
validates declarations and values; the script processes import only this)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

REDACTED = "***"
# Suffixes of the quoted forms of the built-in variables: a parameter may not end in them.
LITERAL_SUFFIX = "_literal"
IDENTIFIER_SUFFIX = "_identifier"


class ParameterType(str, Enum):
    STRING = "string"
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATETIME = "datetime"


@dataclass(frozen=True)
class ParameterValueOf:
    """A value an execution runs with: its type, canonical text, and whether it is secret."""

    name: str
    type: ParameterType
    text: str
    secret: bool

    def shown(self) -> str:
        return REDACTED if self.secret else self.text
