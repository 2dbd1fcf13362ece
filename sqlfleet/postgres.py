"""PostgreSQL targets through psycopg 3 (libpq), not through psqlODBC.

``sqlfleet.odbc`` hands PostgreSQL targets here (its ``run_script``, ``list_databases`` and
``write_output`` bound each call the same way for every engine). Why not psqlODBC: it hands the
notices of a statement over as one text of at most 32 KB and silently drops them all beyond
that (about 1,900 short notices), and no driver option changes it. libpq gives every notice to
``add_notice_handler`` one by one, so a flood keeps its first ones and counts the rest.

What stays as it was through psqlODBC: scripts split as the dialect says (several statements
per piece, sent as one simple query), the first result set kept with the same JSON values and
column kinds (uuid as upper-case text, money as a float, intervals, json, arrays and other
types as the server's text, ``timestamptz`` as the session's wall time), notices as
``"NOTICE: text"`` (a ``DETAIL:`` line after), errors as ``"ERROR: text"`` with the server's
SQLSTATE, every failed connection ``08001`` but a refused sign-in (``28P01``/``28000``), and the
waits: libpq's ``connect_timeout`` (the handshake included), TCP keepalives, then a cancel
request (``cancel_safe``) from the ``Watchdog``. What changed: no 32 KB notice limit, no refusal
of ``;``/``{``/``}`` in names (libpq quotes every value), dates and times PostgreSQL can hold and
Python cannot (``infinity``, BC, year 10000+, ``24:00``) come back as the server's text, and a
numeric column without a declared precision stays ``numeric`` in an output table.

libpq never reads the host's password file (``~/.pgpass``, ``PGPASSFILE``) nor ``PGPASSWORD`` for
a target: a credential with an empty password must not sign in with a password the host's user
keeps for that server.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.adapt import AdaptersMap, Buffer
from psycopg.types import datetime as pg_datetime
from psycopg.types.string import TextLoader

from sqlfleet.dialects import ColumnSpec, Dialect, OutputTable, Query, dialect_for
from sqlfleet.errors import SqlFleetError, Unsupported, ValidationFailed
from sqlfleet.odbc import (
    _CONNECT_SLACK_SECONDS,
    _FETCH_CHUNK,
    ABANDON_AFTER_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    MAX_MESSAGES,
    MAX_RESULT_CHARS,
    _add_messages,
    _close_messages,
    _kept_value,
    release_memory,
)
from sqlfleet.outcomes import ResultSetOutcome, ScriptOutcome, TargetError, start_lines
from sqlfleet.redaction import redact
from sqlfleet.scripts import substitute_variables
from sqlfleet.signin import ConnectionAuth
from sqlfleet.targets import Target
from sqlfleet.watchdogs import Watchdog

Connection = psycopg.Connection[tuple[Any, ...]]

KEEPALIVE_IDLE_SECONDS = 30
KEEPALIVE_INTERVAL_SECONDS = 10
# A path that never exists: libpq reads no password file for a target (module docstring).
_NO_PASSWORD_FILE = str(Path(__file__).resolve().with_name("no-such-pgpass-file"))
# libpq words a refused sign-in as a FATAL of the server; it must not be retried as is.
_REFUSED_SIGN_IN = (
    (re.compile(r"FATAL:\s+password authentication failed"), "28P01"),
    (re.compile(r'FATAL:\s+(?:role ".*" does not exist|no pg_hba\.conf entry)'), "28000"),
    (re.compile(r"FATAL:\s+pg_hba\.conf rejects connection"), "28000"),
    # Not a sign-in, but as permanent: a database that does not exist, or no CONNECT on it.
    (re.compile(r'FATAL:\s+database ".*" does not exist'), "3D000"),
    (re.compile(r"FATAL:\s+permission denied for database"), "42501"),
)


def run_on_server(
    target: Target,
    auth: ConnectionAuth,
    script: str,
    timeout_seconds: float,
    max_rows: int,
    variables: Mapping[str, object] | None,
    cancel: threading.Event | None,
) -> ScriptOutcome:
    """``sqlfleet.odbc.run_script`` for a PostgreSQL target (the caller bounds the call)."""
    started = time.monotonic()
    outcome = ScriptOutcome()
    dialect = dialect_for(target.engine)
    text = substitute_variables(script, variables or {})
    pieces = dialect.statements(text)
    try:
        connection = connect(
            target.server,
            target.port,
            target.database,
            auth,
            min(CONNECT_TIMEOUT_SECONDS, timeout_seconds),
        )
    except SqlFleetError as error:
        # As through ODBC: a connect cut short by the step timeout ends the target TimedOut.
        outcome.elapsed_seconds = time.monotonic() - started
        if outcome.elapsed_seconds >= timeout_seconds - _CONNECT_SLACK_SECONDS:
            outcome.stopped(canceled=False, timeout_seconds=timeout_seconds)
            outcome.error = f"{outcome.error} while connecting ({error.message})"
            return outcome
        outcome.error = error.message
        outcome.sqlstate = getattr(error, "sqlstate", None)
        return outcome
    connection.add_notice_handler(_Notices(outcome))
    remaining = max(0.0, timeout_seconds - (time.monotonic() - started))
    try:
        with Watchdog(_interrupter(connection), remaining, cancel) as watchdog:
            try:
                lines = start_lines(text, list(pieces))
                _run_pieces(connection, pieces, outcome, max_rows, watchdog, lines)
            except psycopg.Error as error:
                if not watchdog.fired:
                    outcome.error, outcome.sqlstate = _error_text(error, auth)
                    outcome.error_line = _error_line(error, pieces, lines, outcome.error_line)
        if watchdog.fired:
            outcome.stopped(canceled=watchdog.canceled, timeout_seconds=timeout_seconds)
    finally:
        connection.close()
        outcome.settle()
        release_memory(outcome)
    _close_messages(outcome)
    outcome.elapsed_seconds = time.monotonic() - started
    return outcome


def list_databases(
    server: str, port: int | None, query: Query, auth: ConnectionAuth, timeout: float, where: str
) -> list[str]:
    """The names ``query`` lists on the server's listing database; raises ``TargetError``."""
    with contextlib.closing(connect(server, port, None, auth, timeout)) as connection:
        try:
            rows = connection.execute(query.sql, query.params or None).fetchall()
        except psycopg.Error as error:
            raise TargetError(where, *_error_text(error, auth)) from None
    return [str(row[0]) for row in rows]


def write_rows(
    target: Target,
    auth: ConnectionAuth,
    table: OutputTable,
    specs: Sequence[ColumnSpec],
    values: Sequence[Sequence[Any]],
    timeout_seconds: float,
    where: str,
) -> int:
    """``sqlfleet.odbc.write_output`` for a PostgreSQL target: ``values`` are bound already."""
    dialect = dialect_for(target.engine)
    connection = connect(
        target.server,
        target.port,
        target.database,
        auth,
        min(CONNECT_TIMEOUT_SECONDS, timeout_seconds),
    )
    with (
        contextlib.closing(connection),
        Watchdog(_interrupter(connection), timeout_seconds) as watchdog,
    ):
        try:
            _create_output_table(connection, dialect, table, specs)
            if values:
                # Server-side placeholders ($1...): '%' and '?' in names stay names.
                with connection.transaction(), psycopg.RawCursor(connection) as cursor:
                    cursor.executemany(dialect.insert_output(table, specs), values)
        except psycopg.Error as error:
            if watchdog.fired:
                raise TargetError(where, f"cancelled after {timeout_seconds:g} s") from None
            raise TargetError(where, *_error_text(error, auth)) from None
    return len(values)


def connect(
    server: str, port: int | None, database: str | None, auth: ConnectionAuth, timeout: float
) -> Connection:
    """An autocommit connection that waits at most ``timeout`` (whole seconds, at least 2, as
    libpq counts) to connect and sign in; raises ``TargetError`` with libpq's text, or
    ``ValidationFailed``/``Unsupported`` for what no PostgreSQL sign-in can carry."""
    dialect = dialect_for("postgresql")
    where = f"connecting to postgresql '{server}'" + (f" database '{database}'" if database else "")
    database = database or dialect.listing_database
    if auth.access_token is not None:
        raise Unsupported(
            "Microsoft Entra token sign-in for postgresql targets",
            hint="use a password or keyVault credential for this engine",
        )
    named = (("server_name", server), ("database_name", database), ("user", auth.user))
    for field, value in (*named, ("password", auth.password)):
        if value is not None and "\x00" in value:
            raise ValidationFailed(field, "contains a NUL character")
    try:
        return psycopg.connect(
            host=server,
            port=int(port or dialect.default_port or 5432),
            dbname=database,
            user=auth.user,
            password=auth.password or "",  # given, even empty: libpq then reads no PGPASSWORD
            passfile=_NO_PASSWORD_FILE,
            connect_timeout=max(2, math.ceil(timeout)),
            keepalives=1,
            keepalives_idle=KEEPALIVE_IDLE_SECONDS,
            keepalives_interval=KEEPALIVE_INTERVAL_SECONDS,
            client_encoding="UTF8",
            autocommit=True,
            context=_ADAPTERS,
        )
    except psycopg.Error as error:
        raise TargetError(where, *_error_text(error, auth, connecting=True)) from None


def _interrupter(connection: Connection) -> Callable[[], None]:
    """What a ``Watchdog`` calls: a cancel request, given up after ``ABANDON_AFTER_SECONDS``
    (a server that never answers it is left to ``call_bounded``)."""

    def interrupt() -> None:
        with contextlib.suppress(psycopg.Error):
            connection.cancel_safe(timeout=ABANDON_AFTER_SECONDS)

    return interrupt


class _Notices:
    """A notice handler: the first ``MAX_MESSAGES`` - 1 notices are kept, the rest counted."""

    def __init__(self, outcome: ScriptOutcome) -> None:
        self.outcome = outcome

    def __call__(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        outcome = self.outcome
        if len(outcome.messages) >= MAX_MESSAGES - 1:
            outcome.messages_dropped += 1  # the flood's fast path: nothing to format
            return
        _add_messages(outcome, [("", _diagnostic_text(diagnostic, "NOTICE"))])
        if outcome.message_details and diagnostic.sqlstate:
            outcome.message_details[-1]["sqlstate"] = diagnostic.sqlstate


def _diagnostic_text(diagnostic: psycopg.errors.Diagnostic, severity: str) -> str:
    text = f"{diagnostic.severity or severity}: {diagnostic.message_primary or ''}"
    if diagnostic.message_detail:
        text += f"\nDETAIL: {diagnostic.message_detail}"
    if diagnostic.message_hint:
        text += f"\nHINT: {diagnostic.message_hint}"
    return text


def _run_pieces(
    connection: Connection,
    pieces: Sequence[str],
    outcome: ScriptOutcome,
    max_rows: int,
    watchdog: Watchdog,
    lines: Sequence[int] = (),
) -> None:
    affected = None
    cursor = connection.cursor()
    for index, piece in enumerate(pieces):
        if watchdog.fired:
            return
        outcome.error_line = lines[index] if index < len(lines) else None
        # No parameters: one simple query, several statements allowed, '%' left alone.
        cursor.execute(piece.encode())
        while True:
            if cursor.description is not None:
                kept = outcome.add_result_set([_column_spec(c) for c in cursor.description])
                if kept is not None:
                    _fetch_bounded(cursor, outcome, kept, max_rows, watchdog)
            else:
                count = _affected_rows(cursor.statusmessage)
                if count is not None:
                    affected = (affected or 0) + count
                    outcome.affected_rows.append(count)
            if watchdog.fired or not cursor.nextset():
                break
    outcome.error_line = None
    outcome.rowcount = -1 if affected is None else affected


def _error_line(
    error: psycopg.Error, pieces: Sequence[str], lines: Sequence[int], piece_line: int | None
) -> int | None:
    """The script's line of a failed statement: where the server's position in the piece
    points (a syntax error, an undefined name), else the piece's first line when the script
    ran in several pieces."""
    if piece_line is None or piece_line not in lines:
        return None
    piece = pieces[lines.index(piece_line)]
    position = error.diag.statement_position
    if position and position.isdigit():
        return piece_line + piece[: int(position) - 1].count("\n")
    return piece_line if len(pieces) > 1 else None


def _affected_rows(status: str | None) -> int | None:
    """Rows a command without a result set affected, counted as psqlODBC did: the number at the
    end of its tag ("INSERT 0 4", "UPDATE 2"), 0 for a tag whose last word is not one
    ("CREATE TABLE"), None for a one-word tag ("DO", "BEGIN")."""
    if not status or " " not in status:
        return None
    last = status.rsplit(" ", 1)[1]
    return int(last) if last.isdigit() else 0


def _fetch_bounded(
    cursor: psycopg.Cursor[tuple[Any, ...]],
    outcome: ScriptOutcome,
    kept: ResultSetOutcome,
    max_rows: int,
    watchdog: Watchdog,
) -> None:
    while not watchdog.fired:
        wanted = min(_FETCH_CHUNK, max_rows + 1 - len(kept.rows))
        chunk = cursor.fetchmany(wanted)
        for row in chunk:
            values = [_kept_value(outcome, kept, v) for v in row]
            outcome.kept_chars += sum(len(v) if isinstance(v, str) else 8 for v in values)
            if outcome.kept_chars > MAX_RESULT_CHARS:
                kept.truncated = True
                return
            kept.rows.append(values)
        if len(kept.rows) > max_rows:
            del kept.rows[max_rows:]
            kept.truncated = True
            return
        if len(chunk) < wanted:
            return


def _create_output_table(
    connection: Connection, dialect: Dialect, table: OutputTable, specs: Sequence[ColumnSpec]
) -> None:
    queries = dialect.create_output_table(table, specs)
    # As in sqlfleet.odbc: targets of one step race to create the same table, and each
    # statement can be lost to a creator that had not committed yet at most once.
    tries = len(queries) + 1
    for attempt in range(1, tries + 1):
        try:
            for query in queries:
                connection.execute(query.sql.encode())
            return
        except psycopg.Error:
            if attempt == tries:
                raise


def _error_text(
    error: psycopg.Error, auth: ConnectionAuth, *, connecting: bool = False
) -> tuple[str, str | None]:
    """(message, sqlstate) of a psycopg error, secrets masked: the server's "ERROR: text"
    (DETAIL and HINT lines after), or libpq's text of a failed connection (``08001``)."""
    sqlstate = error.sqlstate
    if sqlstate:
        text = _diagnostic_text(error.diag, "ERROR")
    else:
        text = str(error).removeprefix("connection failed: ").strip()
        if connecting:
            refused = (state for pattern, state in _REFUSED_SIGN_IN if pattern.search(text))
            sqlstate = next(refused, "08001")
    return str(redact(text, auth.secrets)), sqlstate


# --- values ---------------------------------------------------------------------------------
# Values load as psqlODBC gave them (``sqlfleet.values`` turns them into JSON); every type not
# named here, arrays of any type included, loads as the server's text.


class _UuidLoader(TextLoader):
    def load(self, data: Buffer) -> str:
        return bytes(data).decode().upper()


class _MoneyLoader(TextLoader):
    def load(self, data: Buffer) -> Any:
        text = bytes(data).decode()
        try:
            return float(re.sub(r"[^0-9.\-]", "", text))
        except ValueError:
            return text


def _or_text(loader: type[Any]) -> type[Any]:
    """``loader`` that answers the server's text for a value Python cannot hold."""

    class OrText(loader):  # type: ignore[misc]
        def load(self, data: Buffer) -> Any:
            try:
                value = super().load(data)
            except (psycopg.DataError, ValueError, OverflowError):
                return bytes(data).decode()
            if getattr(value, "tzinfo", None) is not None and hasattr(value, "date"):
                return value.replace(tzinfo=None)  # timestamptz: the session's wall time
            return value

    OrText.__name__ = f"{loader.__name__}OrText"
    return OrText


_TYPED = {
    "int2", "int4", "int8", "oid", "float4", "float8", "numeric", "bool", "bytea", "text",
    "varchar", "bpchar", "name", '"char"',
}  # fmt: skip
_OWN_LOADERS: dict[str, type[Any]] = {
    "uuid": _UuidLoader,
    "money": _MoneyLoader,
    "date": _or_text(pg_datetime.DateLoader),
    "time": _or_text(pg_datetime.TimeLoader),
    "timestamp": _or_text(pg_datetime.TimestampLoader),
    "timestamptz": _or_text(pg_datetime.TimestamptzLoader),
}
# (kind, size, precision, scale) of result columns by type, as psqlODBC described them.
_COLUMNS: dict[str, tuple[str, int | None, int | None, int]] = {
    "int2": ("integer", 5, 5, 0), "int4": ("integer", 10, 10, 0), "int8": ("integer", 19, 19, 0),
    "oid": ("integer", 10, 10, 0), "float4": ("float", 9, 9, 0), "float8": ("float", 17, 17, 0),
    "money": ("float", 10, 10, 0), "bool": ("boolean", 1, 1, 0), "date": ("date", 10, 10, 0),
    "time": ("time", 8, 8, 6), "timestamp": ("datetime", 26, 26, 6),
    "timestamptz": ("datetime", 26, 26, 6), "bytea": ("binary", None, None, 0),
    "uuid": ("text", 37, 37, 0), "name": ("text", 63, 63, 0),
    '"char"': ("text", 1, 1, 0),
}  # fmt: skip


def _adapters() -> AdaptersMap:
    adapters = AdaptersMap(psycopg.adapters)
    for info in psycopg.adapters.types:
        if info.name not in _TYPED and info.name not in _OWN_LOADERS:
            adapters.register_loader(info.oid, TextLoader)
        if info.array_oid:
            adapters.register_loader(info.array_oid, TextLoader)
    for name, loader in _OWN_LOADERS.items():
        adapters.register_loader(name, loader)
    return adapters


_ADAPTERS = _adapters()
_TYPE_NAMES = {info.oid: info.name for info in psycopg.adapters.types}


def _column_spec(column: psycopg.Column) -> ColumnSpec:
    name = _TYPE_NAMES.get(column.type_code, "")
    if name == "numeric":
        return ColumnSpec(
            column.name, "decimal", column.precision, column.precision, column.scale or 0
        )
    if name in _COLUMNS:
        kind, size, precision, scale = _COLUMNS[name]
        return ColumnSpec(column.name, kind, size, precision, scale)
    size = column.display_size if name in ("varchar", "bpchar") else None
    return ColumnSpec(column.name, "text", size, size, 0)
