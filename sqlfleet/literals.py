"""SQL literals of each engine, for parameter values and the quoted forms of script variables.

A value goes into a script as a literal the target's engine reads back as exactly that value,
whatever it holds (quotes, backslashes, comment markers): strings are quoted with every quote
doubled, and where an engine could read a backslash as an escape, in a form that has none.

- ``sqlserver``: ``N'...'`` (``'`` doubled); no backslash escapes exist.
- ``postgresql``: ``'...'`` (``'`` doubled) when the text holds no backslash; otherwise
  ``E'...'`` with backslashes doubled too, so ``standard_conforming_strings`` does not matter.
- ``mysql`` (MariaDB, MySQL): ``'...'`` (``'`` doubled) when the text holds no backslash;
  otherwise ``CONVERT(X'<hex of the UTF-8 bytes>' USING utf8mb4)``, which no ``sql_mode``
  (``NO_BACKSLASH_ESCAPES``, ``ANSI_QUOTES``) reads differently.
- ``sqlite``: ``'...'`` (``'`` doubled); no escapes exist.

Numbers are checked to be numbers (``sqlfleet.models.parameters.canonical``) and written as
they are; booleans as ``1``/``0`` (sqlserver, sqlite) or ``TRUE``/``FALSE``; date-times as
the string ``'YYYY-MM-DD HH:MM:SS.ffffff'`` (UTC), which every engine converts where a date-time
is expected, like ``$(job_execution_create_time)``.
"""

from __future__ import annotations

from sqlfleet.dialects import dialect_for
from sqlfleet.parameterkinds import ParameterType


def string_literal(engine: str, text: str) -> str:
    """``text`` as a string literal of ``engine``."""
    quoted = text.replace("'", "''")
    if engine == "sqlserver":
        return f"N'{quoted}'"
    if "\\" in text:
        if engine == "postgresql":
            return "E'" + quoted.replace("\\", "\\\\") + "'"
        if engine == "mysql":
            return f"CONVERT(X'{text.encode('utf-8').hex().upper()}' USING utf8mb4)"
    return f"'{quoted}'"


def literal(engine: str, kind: ParameterType, text: str) -> str:
    """The literal of a parameter value whose canonical text (see ``canonical``) is ``text``."""
    if kind in (ParameterType.INT, ParameterType.DECIMAL):
        return text
    if kind == ParameterType.BOOL:
        if engine in ("sqlserver", "sqlite"):
            return "1" if text == "true" else "0"
        return "TRUE" if text == "true" else "FALSE"
    return string_literal(engine, text)


def identifier(engine: str, name: str) -> str:
    """``name`` as a quoted identifier of ``engine`` (``[..]``, ``".."`` or backticks)."""
    return dialect_for(engine).quote_identifier(name)
