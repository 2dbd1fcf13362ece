"""What a conversation with a target reports: a script's ``ScriptOutcome``, or a ``TargetError``.

Shared by ``sqlfleet.odbc`` (server engines) and ``sqlfleet.sqlitefiles`` (SQLite files).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlfleet.dialects import ColumnSpec
from sqlfleet.errors import SqlFleetError

_DROPPED_MESSAGES = re.compile(r"\.\.\. (\d+) more message\(s\) not kept")


def dropped_messages_line(count: int) -> str:
    """The last kept message of an attempt that had ``count`` messages more than were kept."""
    return f"... {count} more message(s) not kept"


def dropped_messages_count(line: str) -> int:
    """How many messages ``line`` says were not kept (0 when it is no such line)."""
    match = _DROPPED_MESSAGES.fullmatch(line)
    return int(match.group(1)) if match else 0


class TargetError(SqlFleetError):
    """The driver refused: cannot connect, list or write. ``message`` is its text, redacted."""

    code = "TargetError"

    def __init__(
        self, where: str, message: str, sqlstate: str | None = None, number: int | None = None
    ) -> None:
        self.where = where
        self.sqlstate = sqlstate
        self.number = number if number is not None else error_number(message)
        super().__init__(f"{where}: {message}")


# "... doesn't exist (1146)": MariaDB's and SQL Server's drivers end a message with the
# engine's error number (psqlODBC's "(1)" is its own, and PostgreSQL has SQLSTATEs instead).
_ERROR_NUMBER = re.compile(r"\((-?\d{1,6})\)\s*$")


def error_number(message: str | None) -> int | None:
    """The engine's error number at the end of a driver's ``message``, if it gives one."""
    found = _ERROR_NUMBER.search(message or "")
    return int(found.group(1)) if found else None


# A script's result sets beyond this many are counted, not kept.
MAX_RESULT_SETS = 100


@dataclasses.dataclass
class ResultSetOutcome:
    """One result set of a script: its columns and at most ``max_rows`` rows (``truncated``
    says rows or values were cut)."""

    columns: list[ColumnSpec]
    rows: list[list[Any]] = dataclasses.field(default_factory=list)
    truncated: bool = False


@dataclasses.dataclass
class ScriptOutcome:
    """What a script did on one target; ``to_json()`` is safe to store and to return."""

    columns: list[ColumnSpec] | None = None  # of the first result set; None if there was none
    rows: list[list[Any]] = dataclasses.field(default_factory=list)
    truncated: bool = False  # the first result set had more than max_rows rows
    messages: list[str] = dataclasses.field(default_factory=list)
    messages_dropped: int = 0  # beyond the kept ones; the last kept message says so too
    rowcount: int = -1  # rows affected by statements without a result set; -1 unknown
    error: str | None = None
    sqlstate: str | None = None
    error_number: int | None = None  # the engine's own number (MariaDB, SQL Server, SQLite)
    timed_out: bool = False
    canceled: bool = False  # stopped because the execution was cancelled
    elapsed_seconds: float = 0.0
    large_values: bool = False  # a value was cut (the host then gives its memory back)
    # Every result set in order (the first is also ``columns``/``rows``/``truncated``), those
    # beyond MAX_RESULT_SETS counted; the row counts of statements without a result set.
    result_sets: list[ResultSetOutcome] = dataclasses.field(default_factory=list)
    result_sets_dropped: int = 0
    affected_rows: list[int] = dataclasses.field(default_factory=list)
    # One per kept message: its severity, SQLSTATE and number where the driver gives them.
    message_details: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    error_line: int | None = None  # the script's line the failed statement starts on
    kept_chars: int = 0  # characters kept in all result sets (bounded by the caller)

    def add_result_set(self, columns: list[ColumnSpec]) -> ResultSetOutcome | None:
        """A new result set to fill, or None when MAX_RESULT_SETS are kept already."""
        if len(self.result_sets) >= MAX_RESULT_SETS:
            self.result_sets_dropped += 1
            return None
        kept = ResultSetOutcome(columns)
        self.result_sets.append(kept)
        if len(self.result_sets) == 1:
            self.columns, self.rows = kept.columns, kept.rows
        return kept

    def settle(self) -> None:
        """``truncated`` of the first result set, once the script ended."""
        if self.result_sets:
            self.truncated = self.result_sets[0].truncated

    def result_set(self, index: int) -> ResultSetOutcome | None:
        return self.result_sets[index] if 0 <= index < len(self.result_sets) else None

    @property
    def succeeded(self) -> bool:
        return self.error is None and not self.timed_out and not self.canceled

    def stopped(self, *, canceled: bool, timeout_seconds: float) -> None:
        """The script was stopped: the execution was cancelled, or the step timeout passed."""
        if canceled:
            self.canceled = True
            self.error = "the script was cancelled: the execution was cancelled"
        else:
            self.timed_out = True
            self.error = (
                f"the script ran longer than the step timeout ({timeout_seconds:g} s) "
                "and was cancelled"
            )

    def to_json(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        del document["kept_chars"]
        document["succeeded"] = self.succeeded
        return document


# Where an engine's error text says the line: MariaDB "... near 'x' at line 3" (the line in
# the failed statement), PostgreSQL "LINE 3:".
_NEAR_TEXT = re.compile(r"near '(.{1,80}?)' at line \d+", re.DOTALL)
_LINE_IN_TEXT = re.compile(r"(?:\bat line |\bLINE )(\d+)")


def start_lines(script: str, pieces: list[str]) -> list[int]:
    """The line (1-based) of ``script`` each of its ``pieces`` starts on (a piece not found
    as such, after variables were substituted, starts where the previous one ended)."""
    lines, position = [], 0
    for piece in pieces:
        found = script.find(piece.strip()[:200], position) if piece.strip() else -1
        if found >= 0:
            position = found
        lines.append(script.count("\n", 0, position) + 1)
    return lines


def error_line(
    script: str, piece: str, piece_line: int | None, several: bool, message: str | None
) -> int | None:
    """The script's line of an error in ``piece`` (which starts on ``piece_line``): where the
    engine's text quotes the script ("near '...'") or gives a line within the statement; else
    the piece's first line when the script ran in several pieces (None: unknown)."""
    if piece_line is None:
        return None
    text = message or ""
    near = _NEAR_TEXT.search(text)
    if near:
        offset = piece.find(near.group(1))
        if offset >= 0:
            return piece_line + piece.count("\n", 0, offset)
    found = _LINE_IN_TEXT.search(text)
    if found and not several and piece.count(";") <= 1:
        return piece_line + int(found.group(1)) - 1
    return piece_line if several else None
