"""Script text before it reaches a driver: script variables and splitting into executable pieces.

Pure text functions; ``sqlfleet.dialects`` picks the splitter each engine needs.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sqlite3
from collections.abc import Mapping, Sequence

from sqlfleet.parameterkinds import (
    IDENTIFIER_SUFFIX,
    LITERAL_SUFFIX,
    REDACTED,
    ParameterValueOf,
)

SCRIPT_VARIABLES = (
    "job_name", "job_id", "job_version", "step_id", "step_name", "job_execution_id",
    "job_execution_create_time", "target_group_name", "target_server_name", "target_database_name",
)  # fmt: skip

_VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
# sqlcmd's batch separator: GO alone on its line, an optional repeat count, an optional comment.
_GO_LINE = re.compile(r"[ \t]*go(?:[ \t]+(?P<count>[0-9]+))?[ \t]*(?:--.*)?", re.IGNORECASE)


def substitute_variables(text: str, variables: Mapping[str, object]) -> str:
    """Replace ``$(name)`` tokens by their values (names case-insensitive); unknown ones stay.

    Values go in verbatim, as in Elastic Jobs: inside a string literal, a value that contains a
    quote changes the script.
    """
    known = {
        str(name).lower(): "" if value is None else str(value) for name, value in variables.items()
    }

    def replace(match: re.Match[str]) -> str:
        return known.get(match.group(1).lower(), match.group(0))

    return _VARIABLE.sub(replace, text)


@functools.lru_cache(maxsize=32)  # a few steps run at once; a script may be long
def named_variables(text: str) -> frozenset[str]:
    """The names (lower case) that ``text``'s ``$(name)`` tokens give: the only values
    ``substitute_variables`` can use on it."""
    return frozenset(name.lower() for name in _VARIABLE.findall(text))


def script_variables(
    *,
    job_name: str,
    job_id: object,
    job_version: int,
    step_id: int,
    step_name: str,
    job_execution_id: object,
    job_execution_create_time: dt.datetime,
    target_group_name: str,
    target_server_name: str,
    target_database_name: str,
) -> dict[str, str]:
    """The values of every script variable; times as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC.

    That form (no ``T``, no zone) parses as a datetime on all four engines.
    """
    created = job_execution_create_time
    created = (
        created.replace(tzinfo=None)
        if created.tzinfo is None
        else created.astimezone(dt.timezone.utc).replace(tzinfo=None)
    )
    values: dict[str, object] = dict(
        job_name=job_name, job_id=job_id, job_version=job_version, step_id=step_id,
        step_name=step_name, job_execution_id=job_execution_id,
        job_execution_create_time=created.strftime("%Y-%m-%d %H:%M:%S.%f"),
        target_group_name=target_group_name, target_server_name=target_server_name,
        target_database_name=target_database_name,
    )  # fmt: skip
    return {name: str(values[name]) for name in SCRIPT_VARIABLES}


def script_values(
    variables: Mapping[str, str],
    engine: str,
    parameters: Sequence[ParameterValueOf] = (),
    *,
    redact: bool = False,
) -> dict[str, str]:
    """Everything a script's ``$(...)`` tokens may name on a target of ``engine``.

    The built-in ``variables`` go in verbatim (Elastic Jobs' textual form), and also quoted:
    ``$(<name>_literal)`` as a string literal of the engine, ``$(<name>_identifier)`` as a
    quoted identifier (``USE $(target_database_name_identifier)``), so that a database named
    ``b'); DROP ...`` never becomes SQL. Parameters go in as literals of their type
    (``sqlfleet.literals``); with ``redact``, secret ones as the literal ``'***'`` (for showing
    a script to people).
    """
    from sqlfleet.literals import identifier, literal, string_literal

    values = dict(variables)
    for name, text in variables.items():
        values[name + LITERAL_SUFFIX] = string_literal(engine, text)
        if text:
            values[name + IDENTIFIER_SUFFIX] = identifier(engine, text)
    for parameter in parameters:
        if redact and parameter.secret:
            values[parameter.name] = string_literal(engine, REDACTED)
        else:
            values[parameter.name] = literal(engine, parameter.type, parameter.text)
    return values


def split_batches(script: str) -> list[str]:
    """Split a T-SQL script into batches on ``GO`` lines, as sqlcmd and SSMS do.

    A separator is a line holding only ``GO`` (any case), optionally a repeat count (``GO 3`` runs
    the batch three times, ``GO 0`` drops it) and a trailing ``--`` comment. Lines inside string
    literals, ``"..."``/``[...]`` identifiers and (nested) block comments never separate.
    Limits: ``GO;`` and ``GO`` followed by other statements on the same line are not separators;
    sqlcmd commands (``:r``, ``:setvar``) are not interpreted. Whitespace-only batches are dropped.
    """
    batches: list[str] = []
    lines: list[str] = []
    scanner = _TsqlScanner()
    for line in script.splitlines(keepends=True):
        match = _GO_LINE.fullmatch(line.rstrip("\r\n")) if scanner.at_top_level else None
        if match is None:
            lines.append(line)
            scanner.feed(line)
            continue
        batch = "".join(lines)
        if batch.strip():
            batches.extend([batch] * int(match.group("count") or 1))
        lines = []
    batch = "".join(lines)
    if batch.strip():
        batches.append(batch)
    return batches


class _TsqlScanner:
    """Tracks whether the text fed so far ends inside a literal, identifier or comment."""

    def __init__(self) -> None:
        self.closing: str | None = None  # the quote that ends the current literal or identifier
        self.comment_depth = 0

    @property
    def at_top_level(self) -> bool:
        return self.closing is None and self.comment_depth == 0

    def feed(self, text: str) -> None:
        i, n = 0, len(text)
        while i < n:
            pair = text[i : i + 2]
            if self.comment_depth:
                if pair == "/*":
                    self.comment_depth, i = self.comment_depth + 1, i + 2
                elif pair == "*/":
                    self.comment_depth, i = self.comment_depth - 1, i + 2
                else:
                    i += 1
            elif self.closing is not None:
                if text[i] == self.closing:
                    # A doubled quote is an escaped quote, not the end.
                    if i + 1 < n and text[i + 1] == self.closing:
                        i += 2
                        continue
                    self.closing = None
                i += 1
            elif pair == "--":
                return
            elif pair == "/*":
                self.comment_depth, i = 1, i + 2
            else:
                self.closing = {"'": "'", '"': '"', "[": "]"}.get(text[i])
                i += 1


def split_sqlite_statements(script: str) -> list[str]:
    """Split a script into single statements (Python's ``sqlite3`` runs one per call).

    SQLite's own tokenizer (``sqlite3.complete_statement``) decides where a statement ends, so
    semicolons in literals, comments and ``CREATE TRIGGER … BEGIN … END`` bodies are handled.
    """
    statements: list[str] = []
    start = 0
    for position, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : position + 1]):
            statements.append(script[start : position + 1].strip())
            start = position + 1
    rest = script[start:].strip()
    if rest:
        statements.append(rest)
    # Empty statements (";;") and comment-only pieces execute as no-ops; skipping them saves trips.
    return [s for s in statements if s.strip("; \t\r\n") and not _only_comments(s)]


def _only_comments(statement: str) -> bool:
    return not re.sub(r"--[^\n]*|/\*.*?(\*/|$)|[;\s]", "", statement, flags=re.DOTALL)
