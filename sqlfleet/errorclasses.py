"""Which errors of a target are worth a retry: each engine's errors classed transient or
permanent.

Transient errors may pass by themselves: the connection was lost, a deadlock or serialization
failure, a lock or statement timeout, a server out of resources or shutting down. Permanent
ones cannot pass by waiting: a refused sign-in or permission, a syntax error, an undefined
table, column or function, bad data. An error of neither kind (a script's own ``RAISE
EXCEPTION``/``THROW``, a constraint that a later attempt may satisfy) is retried, as Elastic
Jobs retries every error. A step's ``retry_on: all`` retries the permanent ones too.

The engines say what went wrong differently: PostgreSQL by SQLSTATE (its classes), MariaDB/MySQL
and SQL Server by their own error numbers, SQLite by its result codes (and, for the generic
``SQLITE_ERROR``, by the text).
"""

from __future__ import annotations

import dataclasses
import re

TRANSIENT = "transient"
PERMANENT = "permanent"
UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class ErrorClass:
    """``kind`` is ``transient``, ``permanent`` or ``unknown`` (retried); ``reason`` says why."""

    kind: str
    reason: str

    @property
    def retried(self) -> bool:
        return self.kind != PERMANENT


# PostgreSQL: SQLSTATE classes (first two characters) and single states, states first.
_POSTGRES_STATES = {
    "40001": (TRANSIENT, "serialization failure"),
    "40P01": (TRANSIENT, "deadlock detected"),
    "55P03": (TRANSIENT, "lock not available"),
    "57014": (TRANSIENT, "statement cancelled (statement or lock timeout)"),
    "57P01": (TRANSIENT, "the server is shutting down"),
    "57P02": (TRANSIENT, "the server is shutting down"),
    "57P03": (TRANSIENT, "the server cannot take connections yet"),
    "3D000": (PERMANENT, "the database does not exist"),
    "42501": (PERMANENT, "permission denied"),
    "42601": (PERMANENT, "syntax error"),
    "42P01": (PERMANENT, "undefined table"),
    "42703": (PERMANENT, "undefined column"),
    "42883": (PERMANENT, "undefined function"),
    "3F000": (PERMANENT, "the schema does not exist"),
}
_POSTGRES_CLASSES = {
    "08": (TRANSIENT, "connection exception"),
    "53": (TRANSIENT, "insufficient resources"),
    "58": (TRANSIENT, "system error"),
    "HY": (TRANSIENT, "driver error"),
    "28": (PERMANENT, "sign-in refused"),
    "42": (PERMANENT, "syntax error or access rule violation"),
    "22": (PERMANENT, "data exception"),
    "0A": (PERMANENT, "feature not supported"),
    "3D": (PERMANENT, "the database does not exist"),
}

# MariaDB/MySQL error numbers.
_MYSQL_NUMBERS = {
    1040: (TRANSIENT, "too many connections"),
    1205: (TRANSIENT, "lock wait timeout"),
    1213: (TRANSIENT, "deadlock"),
    1037: (TRANSIENT, "out of memory"),
    1038: (TRANSIENT, "out of sort memory"),
    1041: (TRANSIENT, "out of memory"),
    1021: (TRANSIENT, "disk full"),
    1053: (TRANSIENT, "the server is shutting down"),
    1317: (TRANSIENT, "query interrupted"),
    1969: (TRANSIENT, "statement timeout (max_statement_time)"),
    3024: (TRANSIENT, "statement timeout (max_execution_time)"),
    2002: (TRANSIENT, "cannot connect"),
    2003: (TRANSIENT, "cannot connect"),
    2006: (TRANSIENT, "the server has gone away"),
    2013: (TRANSIENT, "lost connection during query"),
    1044: (PERMANENT, "access denied to the database"),
    1045: (PERMANENT, "access denied (sign-in refused)"),
    1142: (PERMANENT, "command denied on the table"),
    1143: (PERMANENT, "command denied on the column"),
    1227: (PERMANENT, "access denied (privilege missing)"),
    1370: (PERMANENT, "command denied on the routine"),
    1049: (PERMANENT, "unknown database"),
    1064: (PERMANENT, "syntax error"),
    1146: (PERMANENT, "the table does not exist"),
    1054: (PERMANENT, "unknown column"),
    1305: (PERMANENT, "the function or procedure does not exist"),
    1136: (PERMANENT, "column count does not match the values"),
    1264: (PERMANENT, "value out of range"),
    1265: (PERMANENT, "data truncated"),
    1366: (PERMANENT, "incorrect value"),
    1406: (PERMANENT, "data too long"),
    1292: (PERMANENT, "incorrect value"),
    1365: (PERMANENT, "division by zero"),
}

# SQL Server error numbers (the Azure SQL transient list and the common permanent ones).
_SQLSERVER_NUMBERS = {
    1205: (TRANSIENT, "deadlock victim"),
    1222: (TRANSIENT, "lock request timeout"),
    -2: (TRANSIENT, "timeout"),
    20: (TRANSIENT, "the instance does not support encryption"),
    64: (TRANSIENT, "connection lost"),
    233: (TRANSIENT, "connection lost"),
    10053: (TRANSIENT, "connection lost"),
    10054: (TRANSIENT, "connection lost"),
    10060: (TRANSIENT, "connection timed out"),
    10928: (TRANSIENT, "resource limit reached"),
    10929: (TRANSIENT, "resource limit reached"),
    40143: (TRANSIENT, "the service is busy"),
    40197: (TRANSIENT, "the service is busy"),
    40501: (TRANSIENT, "the service is busy"),
    40540: (TRANSIENT, "the service is busy"),
    40613: (TRANSIENT, "the database is not available right now"),
    4060: (TRANSIENT, "cannot open the database (it may be moving)"),
    4221: (TRANSIENT, "the secondary is catching up"),
    49918: (TRANSIENT, "not enough resources"),
    49919: (TRANSIENT, "too many operations"),
    49920: (TRANSIENT, "too many operations"),
    701: (TRANSIENT, "out of memory"),
    1204: (TRANSIENT, "out of locks"),
    3960: (TRANSIENT, "snapshot isolation update conflict"),
    18456: (PERMANENT, "login failed"),
    18452: (PERMANENT, "login failed (untrusted domain)"),
    229: (PERMANENT, "permission denied"),
    230: (PERMANENT, "permission denied on the column"),
    262: (PERMANENT, "permission denied in the database"),
    300: (PERMANENT, "permission denied"),
    916: (PERMANENT, "the login cannot use the database"),
    102: (PERMANENT, "syntax error"),
    156: (PERMANENT, "syntax error"),
    105: (PERMANENT, "unclosed quotation mark"),
    207: (PERMANENT, "invalid column"),
    208: (PERMANENT, "invalid object name"),
    2812: (PERMANENT, "the procedure does not exist"),
    4121: (PERMANENT, "the function does not exist"),
    911: (PERMANENT, "the database does not exist"),
    245: (PERMANENT, "conversion failed"),
    241: (PERMANENT, "conversion failed"),
    8114: (PERMANENT, "conversion failed"),
    8115: (PERMANENT, "arithmetic overflow"),
    8134: (PERMANENT, "divide by zero"),
    8152: (PERMANENT, "data would be truncated"),
    2628: (PERMANENT, "data would be truncated"),
}
_SQLSERVER_STATES = {
    "08": (TRANSIENT, "connection exception"),
    "HYT": (TRANSIENT, "timeout"),
    "28": (PERMANENT, "login failed"),
}

# SQLite primary result codes (extended codes keep them in their low byte).
_SQLITE_CODES = {
    5: (TRANSIENT, "the database is busy (SQLITE_BUSY)"),
    6: (TRANSIENT, "a table is locked (SQLITE_LOCKED)"),
    7: (TRANSIENT, "out of memory (SQLITE_NOMEM)"),
    10: (TRANSIENT, "disk I/O error (SQLITE_IOERR)"),
    13: (TRANSIENT, "the disk is full (SQLITE_FULL)"),
    15: (TRANSIENT, "locking protocol error (SQLITE_PROTOCOL)"),
    3: (PERMANENT, "access permission denied (SQLITE_PERM)"),
    8: (PERMANENT, "the database is read-only (SQLITE_READONLY)"),
    11: (PERMANENT, "the database file is malformed (SQLITE_CORRUPT)"),
    18: (PERMANENT, "a value is too big (SQLITE_TOOBIG)"),
    20: (PERMANENT, "data type mismatch (SQLITE_MISMATCH)"),
    23: (PERMANENT, "not authorized (SQLITE_AUTH)"),
    25: (PERMANENT, "parameter out of range (SQLITE_RANGE)"),
    26: (PERMANENT, "not a database (SQLITE_NOTADB)"),
}
# SQLITE_ERROR (1) stands for many errors; its text says which.
_SQLITE_ERROR_TEXTS = (
    (re.compile(r"syntax error|incomplete input|unrecognized token"), "syntax error"),
    (re.compile(r"^no such (?:table|column|function|index|view)"), "undefined object"),
    (re.compile(r"^(?:not authorized|authorization denied)"), "not authorized"),
    (re.compile(r"has no column named"), "undefined column"),
)
_SIGN_IN_REFUSED = frozenset({"28000", "28P01"})
_UNKNOWN = ErrorClass(UNKNOWN, "an error of no known class")


def classify(
    engine: str, sqlstate: str | None, number: int | None, message: str | None
) -> ErrorClass:
    """The class of an error of ``engine`` (``sqlserver``, ``postgresql``, ``mysql``,
    ``sqlite``) from its SQLSTATE, the engine's error number and its text."""
    if sqlstate in _SIGN_IN_REFUSED:
        return ErrorClass(PERMANENT, "the sign-in was refused")
    if engine == "postgresql":
        return _by_state(sqlstate, _POSTGRES_STATES, _POSTGRES_CLASSES, "SQLSTATE")
    if engine == "mysql":
        if number is not None and number in _MYSQL_NUMBERS:
            kind, reason = _MYSQL_NUMBERS[number]
            return ErrorClass(kind, f"{reason}, error {number}")
        return _UNKNOWN
    if engine == "sqlite":
        return _sqlite(number, message or "")
    if number is not None and number in _SQLSERVER_NUMBERS:
        kind, reason = _SQLSERVER_NUMBERS[number]
        return ErrorClass(kind, f"{reason}, error {number}")
    return _by_state(sqlstate, {}, _SQLSERVER_STATES, "SQLSTATE")


def _by_state(
    sqlstate: str | None,
    states: dict[str, tuple[str, str]],
    classes: dict[str, tuple[str, str]],
    label: str,
) -> ErrorClass:
    if not sqlstate:
        return _UNKNOWN
    found = states.get(sqlstate)
    if found is None:
        found = next(
            (v for prefix, v in classes.items() if sqlstate.startswith(prefix)),
            None,
        )
    if found is None:
        return _UNKNOWN
    return ErrorClass(found[0], f"{found[1]}, {label} {sqlstate}")


def _sqlite(code: int | None, message: str) -> ErrorClass:
    if code is None:
        return _UNKNOWN
    primary = code & 0xFF
    if primary in _SQLITE_CODES:
        kind, reason = _SQLITE_CODES[primary]
        return ErrorClass(kind, reason)
    if primary == 1:
        for pattern, reason in _SQLITE_ERROR_TEXTS:
            if pattern.search(message):
                return ErrorClass(PERMANENT, f"{reason} (SQLITE_ERROR)")
    return _UNKNOWN


def not_retried_note(error_class: ErrorClass) -> str:
    """What a target's message adds when its error was not retried."""
    return (
        f"not retried: a permanent error ({error_class.reason}) cannot pass by retrying; "
        "set the step's retry_on to 'all' to retry every error"
    )
