"""What a conversation with a target reports: a script's ``ScriptOutcome``, or a ``TargetError``.

Shared by ``sqlfleet.odbc`` (server engines) and ``sqlfleet.sqlitefiles`` (SQLite files).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlfleet.engines import ColumnSpec
from sqlfleet.errors import SqlFleetError


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
        document["succeeded"] = self.succeeded
        return document
