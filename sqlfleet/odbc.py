"""Every conversation with a target database: through pyodbc (the project's only pyodbc user),
except SQLite files, which ``sqlfleet.sqlitefiles`` opens with Python's ``sqlite3``, and
PostgreSQL targets, which ``sqlfleet.postgres`` reaches with psycopg (each says why).

- ``connect``: a connection to one target, signed in with a ``ConnectionAuth`` (a context
  manager: it closes the connection the way the driver needs).
- ``list_databases``: the databases of a server or elastic-pool member right now.
- ``run_script``: a step's script on one target, cancelled at the step timeout; it keeps the
  first result set (bounded), every PRINT/notice/info message and the driver's error text.
- ``write_output``: a first result set into the step's output table (created when missing).

What each driver reports as messages: SQL Server PRINT and RAISERROR ≤ 10 (``cursor.messages``);
PostgreSQL ``RAISE NOTICE``/``WARNING`` (libpq's notices, one by one);
MariaDB/MySQL have no messages, so their warnings and notes (``SHOW WARNINGS``, which covers the
last statement only) stand in; SQLite has none. Values in rows are JSON-safe
(``sqlfleet.values``).

No script reaches a file of the host: MySQL/MariaDB connections never allow ``LOAD DATA LOCAL
INFILE`` (``sqlfleet.dialects.MySqlDialect``, and ``MARIADB_HOME`` below), no value of a member
adds a keyword to a connection string (``Dialect.connection_string``), and SQLite targets are
held to their own file, under ``SQLFLEET_SQLITE_ROOTS`` (``sqlfleet.sqlitefiles``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyodbc

from sqlfleet import memory, sqlitefiles
from sqlfleet.dialects import ColumnSpec, Dialect, OutputTable, dialect_for
from sqlfleet.errors import SqlFleetError
from sqlfleet.outcomes import (
    ResultSetOutcome,
    ScriptOutcome,
    TargetError,
    dropped_messages_line,
    error_line,
    error_number,
    start_lines,
)
from sqlfleet.redaction import redact
from sqlfleet.scripts import substitute_variables
from sqlfleet.signin import ConnectionAuth
from sqlfleet.sqlitefolders import SqliteFolders
from sqlfleet.targets import MemberLike, Target
from sqlfleet.values import (
    bind_value,
    cut_value,
    datetimeoffset_text,
    json_value,
)
from sqlfleet.watchdogs import Watchdog, call_bounded

__all__ = [
    "ScriptOutcome",
    "SqliteFolders",
    "TargetError",
    "bind_value",
    "connect",
    "datetimeoffset_text",
    "json_value",
    "list_databases",
    "run_script",
    "write_output",
]

CONNECT_TIMEOUT_SECONDS = 30
MAX_MESSAGES = 1000
MAX_MESSAGE_CHARS = 8000
# A kept result set is cut at this many characters in all (values at MAX_VALUE_CHARS).
MAX_RESULT_CHARS = 16 * 1024 * 1024
# How long past the step timeout (or a cancel) a caller waits for a driver that ignores its
# cancel before it gives the connection up (``run_script``).
ABANDON_AFTER_SECONDS = 5.0
_FETCH_CHUNK = 500
# Drivers count their login timeout in whole seconds from a moment a little after ours.
_CONNECT_SLACK_SECONDS = 0.5
_SQL_SS_TIMESTAMPOFFSET = -155  # SQL Server datetimeoffset, which pyodbc cannot read natively
# "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]" and "[ma-3.1.15][10.11.19-MariaDB]".
_VENDOR_PREFIX = re.compile(r"^(?:\[[^\]]*\]\s*)+")
_ODBC_FUNCTION_SUFFIX = re.compile(r"\s*\(SQL\w+\)\s*$")

# MariaDB Connector/C reads <MARIADB_HOME>/my.cnf when a connection string says USE_MYCNF=1, as
# every mysql one does (sqlfleet.dialects.MySqlDialect): that file switches LOAD DATA LOCAL
# INFILE off, which Connector/ODBC before 3.1.16 cannot do otherwise. SQL Fleet owns this
# variable in its process; it is set on import, before any connection reads it.
MARIADB_OPTIONS_FOLDER = Path(__file__).resolve().with_name("mariadb")
os.environ["MARIADB_HOME"] = str(MARIADB_OPTIONS_FOLDER)

logger = logging.getLogger("sqlfleet.odbc")


@contextlib.contextmanager
def connect(
    target: Target,
    auth: ConnectionAuth,
    driver: str | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
    *,
    sqlite_folders: SqliteFolders | None = None,
) -> Iterator[pyodbc.Connection | sqlite3.Connection]:
    """An autocommit connection to ``target``, closed when the block ends; raises
    ``TargetError`` with the driver's text. SQLite targets get ``sqlfleet.sqlitefiles``'
    connection, allowed by ``sqlite_folders`` (default: this host's settings)."""
    engine = dialect_for(target.engine).engine
    if engine == "sqlite":
        with sqlitefiles.connect(target, timeout=timeout, folders=sqlite_folders) as sqlite:
            yield sqlite
        return
    connection = _open(engine, target.server, target.port, target.database, auth, driver, timeout)
    try:
        yield connection
    finally:
        connection.close()


def list_databases(
    member: MemberLike,
    auth: ConnectionAuth,
    driver: str | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
    *,
    sqlite_folders: SqliteFolders | None = None,
) -> list[str]:
    """The databases of a server or elastic-pool ``member`` (sqlite: ``*.db`` files, sorted,
    of a folder ``sqlite_folders`` allows; default: this host's settings).

    Raises ``TargetError`` when the server cannot be reached or refuses the listing.
    """
    dialect = dialect_for(member.engine)
    where = f"listing databases of {dialect.engine} server '{member.server_name}'"
    if dialect.engine == "sqlite":
        return sqlitefiles.list_databases(member.server_name, sqlite_folders)
    pool = getattr(member, "elastic_pool_name", None)
    if str(getattr(member.target_type, "value", member.target_type)) != "elasticPool":
        pool = None
    query = dialect.list_databases_query(pool)

    def listing() -> list[str]:
        if dialect.engine == "postgresql":
            from sqlfleet import postgres  # psycopg, not psqlODBC (sqlfleet.postgres says why)

            return postgres.list_databases(
                member.server_name, member.port, query, auth, timeout, where
            )
        connection = _open(
            dialect.engine, member.server_name, member.port, None, auth, driver, timeout
        )
        try:
            cursor = connection.cursor()
            cursor.execute(query.sql, *query.params)
            return [str(row[0]) for row in cursor.fetchall()]
        except pyodbc.Error as error:
            raise TargetError(where, *_error_text(error, auth)) from None
        finally:
            connection.close()

    # The listing has no watchdog: a server that stops answering is given up on here.
    databases = call_bounded(listing, 2 * timeout, None, ABANDON_AFTER_SECONDS, where)
    if databases is None:
        raise TargetError(where, f"the server did not answer within {2 * timeout:g} s")
    return databases


def run_script(
    target: Target,
    auth: ConnectionAuth,
    script: str,
    *,
    timeout_seconds: float,
    max_rows: int,
    variables: Mapping[str, object] | None = None,
    driver: str | None = None,
    cancel: threading.Event | None = None,
    sqlite_folders: SqliteFolders | None = None,
) -> ScriptOutcome:
    """Run ``script`` on ``target`` and report; never raises for connection or SQL errors.

    Script variables are substituted first, then the script is split as the engine needs
    (``GO`` batches for sqlserver, statements for sqlite); the first error stops the script
    (a retry runs all of it again). When ``timeout_seconds`` pass, the running statement is
    cancelled (``SQLCancel`` from a watchdog thread) and the outcome says ``timed_out``. Only
    the first result set is kept, at most ``max_rows`` rows (``truncated`` says more existed);
    a caller that writes an output table passes the bound it wants written. SQLite targets run
    in ``sqlfleet.sqlitefiles``, in a file ``sqlite_folders`` allows (default: this host's
    settings); ``auth`` and ``driver`` do not apply to them.
    """
    if dialect_for(target.engine).engine == "sqlite":
        return sqlitefiles.run_script(
            target,
            script,
            timeout_seconds=timeout_seconds,
            max_rows=max_rows,
            variables=variables,
            cancel=cancel,
            folders=sqlite_folders,
        )
    started = time.monotonic()

    def converse() -> ScriptOutcome:
        if dialect_for(target.engine).engine == "postgresql":
            from sqlfleet import postgres  # psycopg, not psqlODBC (sqlfleet.postgres says why)

            return postgres.run_on_server(
                target, auth, script, timeout_seconds, max_rows, variables, cancel
            )
        return _run_on_server(
            target, auth, script, timeout_seconds, max_rows, variables, driver, cancel
        )

    # The driver's calls run on a thread of their own, so that a driver that ignores both its
    # timeouts and SQLCancel (a server that accepts and never answers, a cancel request that
    # never connects) cannot hold the caller, and with it an activity slot, past the step.
    where = f"{target.engine} target {target.server}/{target.database}"
    answered = call_bounded(converse, timeout_seconds, cancel, ABANDON_AFTER_SECONDS, where)
    if answered is not None:
        return answered
    outcome = ScriptOutcome(elapsed_seconds=time.monotonic() - started)
    outcome.stopped(
        canceled=cancel is not None and cancel.is_set(), timeout_seconds=timeout_seconds
    )
    outcome.error = (
        f"{outcome.error}; the {dialect_for(target.engine).engine} server did not answer and "
        f"the driver did not stop within {ABANDON_AFTER_SECONDS:g} s, so the connection was "
        "left to the driver's own timeouts"
    )
    return outcome


def _run_on_server(
    target: Target,
    auth: ConnectionAuth,
    script: str,
    timeout_seconds: float,
    max_rows: int,
    variables: Mapping[str, object] | None,
    driver: str | None,
    cancel: threading.Event | None,
) -> ScriptOutcome:
    started = time.monotonic()
    outcome = ScriptOutcome()
    dialect = dialect_for(target.engine)
    text = substitute_variables(script, variables or {})
    pieces = dialect.statements(text)
    try:
        connection = _open(
            dialect.engine,
            target.server,
            target.port,
            target.database,
            auth,
            driver,
            min(CONNECT_TIMEOUT_SECONDS, timeout_seconds),
            read_timeout=timeout_seconds,
        )
    except SqlFleetError as error:
        # Unreachable servers and values the driver cannot carry both fail the target, unless
        # the step's time ran out while connecting (a server that accepts and never answers).
        outcome.elapsed_seconds = time.monotonic() - started
        if outcome.elapsed_seconds >= timeout_seconds - _CONNECT_SLACK_SECONDS:
            outcome.stopped(canceled=False, timeout_seconds=timeout_seconds)
            outcome.error = f"{outcome.error} while connecting ({error.message})"
            return outcome
        outcome.error = error.message
        outcome.sqlstate = getattr(error, "sqlstate", None)
        outcome.error_number = _engine_number(dialect.engine, getattr(error, "number", None))
        return outcome
    remaining = max(0.0, timeout_seconds - (time.monotonic() - started))
    try:
        cursor = connection.cursor()
        with Watchdog(_interrupter(cursor), remaining, cancel) as watchdog:
            try:
                lines = start_lines(text, list(pieces))
                _run_pieces(cursor, pieces, outcome, max_rows, watchdog, lines)
                if dialect.engine == "mysql" and not watchdog.fired:
                    _add_mysql_warnings(cursor, outcome)
            except pyodbc.Error as error:
                if not watchdog.fired:
                    outcome.error, outcome.sqlstate = _error_text(error, auth)
                    outcome.error_number = _engine_number(
                        dialect.engine, error_number(outcome.error)
                    )
                    outcome.error_line = _error_line(text, pieces, outcome)
        if watchdog.fired:
            outcome.stopped(canceled=watchdog.canceled, timeout_seconds=timeout_seconds)
    finally:
        connection.close()
        outcome.settle()
        release_memory(outcome)
    _close_messages(outcome)
    outcome.elapsed_seconds = time.monotonic() - started
    return outcome


def write_output(
    target: Target,
    auth: ConnectionAuth,
    table: OutputTable,
    columns: Sequence[ColumnSpec | Mapping[str, Any]],
    rows: Sequence[Sequence[Any]],
    internal_execution_id: str | uuid.UUID,
    *,
    driver: str | None = None,
    timeout_seconds: float = 600,
    sqlite_folders: SqliteFolders | None = None,
) -> int:
    """Append ``rows`` (JSON-safe, as ``run_script`` returns them) to ``table`` on ``target``.

    Creates the table (columns typed from ``columns`` plus ``internal_execution_id`` and its
    index) when missing; rows go in one transaction. Returns the number of rows written.
    Raises ``TargetError`` with the driver's text (e.g. the table exists with other columns).
    SQLite targets are written by ``sqlfleet.sqlitefiles`` (``sqlite_folders`` as above).
    """
    specs = [c if isinstance(c, ColumnSpec) else ColumnSpec(**c) for c in columns]
    dialect = dialect_for(target.engine)
    if dialect.engine == "sqlite":
        return sqlitefiles.write_output(
            target,
            table,
            specs,
            rows,
            internal_execution_id,
            timeout_seconds=timeout_seconds,
            folders=sqlite_folders,
        )
    where = f"writing output table '{table.table}' on {target.server}/{target.database}"
    marker = str(internal_execution_id)
    values = [
        [bind_value(c.kind, v) for c, v in zip(specs, row, strict=True)] + [marker] for row in rows
    ]

    def writing() -> int:
        if dialect.engine == "postgresql":
            from sqlfleet import postgres  # psycopg, not psqlODBC (sqlfleet.postgres says why)

            return postgres.write_rows(target, auth, table, specs, values, timeout_seconds, where)
        connection = _open(
            dialect.engine,
            target.server,
            target.port,
            target.database,
            auth,
            driver,
            min(CONNECT_TIMEOUT_SECONDS, timeout_seconds),
            read_timeout=timeout_seconds,
        )
        with contextlib.closing(connection):
            cursor = connection.cursor()
            with Watchdog(_interrupter(cursor), timeout_seconds) as watchdog:
                try:
                    _create_output_table(cursor, dialect, table, specs)
                    if values:
                        connection.autocommit = False
                        cursor.executemany(dialect.insert_output(table, specs), values)
                        connection.commit()
                except pyodbc.Error as error:
                    if watchdog.fired:
                        raise TargetError(where, f"cancelled after {timeout_seconds:g} s") from None
                    raise TargetError(where, *_error_text(error, auth)) from None
        return len(values)

    written = call_bounded(writing, timeout_seconds, None, ABANDON_AFTER_SECONDS, where)
    if written is None:
        raise TargetError(where, f"the server did not answer within {timeout_seconds:g} s")
    return written


def _open(
    engine: str,
    server: str,
    port: int | None,
    database: str | None,
    auth: ConnectionAuth,
    driver: str | None,
    timeout: float,
    *,
    read_timeout: float | None = None,
) -> pyodbc.Connection:
    """A connection whose driver waits at most ``timeout`` to connect and sign in, and at most
    ``read_timeout`` (default ``timeout``) plus ``ABANDON_AFTER_SECONDS`` for each read where
    the driver can bound it (``Dialect.wait_options``)."""
    dialect = dialect_for(engine)
    login_seconds = max(1, math.ceil(timeout))
    read_seconds = max(1, math.ceil((read_timeout or timeout) + ABANDON_AFTER_SECONDS))
    where = f"connecting to {dialect.engine} '{server}'" + (
        f" database '{database}'" if database else ""
    )
    text = dialect.connection_string(
        server,
        port,
        database,
        driver=driver,
        user=auth.user,
        password=auth.password,
        access_token=auth.access_token is not None,
        waits=(login_seconds, read_seconds),
    )
    try:
        connection = pyodbc.connect(
            text.secret_text(),
            autocommit=True,
            timeout=login_seconds,
            attrs_before=auth.attrs_before or None,
        )
    except pyodbc.Error as error:
        raise TargetError(where, *_error_text(error, auth)) from None
    if dialect.engine == "sqlserver":
        connection.add_output_converter(_SQL_SS_TIMESTAMPOFFSET, datetimeoffset_text)
        # ODBC Driver 18 honours the query timeout itself (HYT00); the watchdog comes first.
        connection.timeout = read_seconds
    return connection


def _interrupter(cursor: pyodbc.Cursor) -> Callable[[], None]:
    """What a ``Watchdog`` calls to stop the cursor's running statement (``SQLCancel``)."""

    def interrupt() -> None:
        # An error here means nothing is running any more; the script's thread sees ``fired``.
        with contextlib.suppress(pyodbc.Error):
            cursor.cancel()

    return interrupt


def _run_pieces(
    cursor: pyodbc.Cursor,
    pieces: Sequence[str],
    outcome: ScriptOutcome,
    max_rows: int,
    watchdog: Watchdog,
    lines: Sequence[int] = (),
) -> None:
    affected = None
    for index, piece in enumerate(pieces):
        if watchdog.fired:
            return
        outcome.error_line = lines[index] if index < len(lines) else None
        cursor.execute(piece)
        while True:
            _add_messages(outcome, cursor.messages)
            if cursor.description is not None:
                kept = outcome.add_result_set(
                    [ColumnSpec.from_description(d) for d in cursor.description]
                )
                if kept is not None:
                    _fetch_bounded(cursor, outcome, kept, max_rows, watchdog)
            elif cursor.rowcount >= 0:
                affected = (affected or 0) + cursor.rowcount
                outcome.affected_rows.append(cursor.rowcount)
            if watchdog.fired or not cursor.nextset():
                break
    outcome.error_line = None
    outcome.rowcount = -1 if affected is None else affected


def _engine_number(engine: str, number: int | None) -> int | None:
    """The engine's error number; psqlODBC's "(1)"/"(101)" are its own, not PostgreSQL's
    (whose errors have SQLSTATEs only)."""
    return None if engine == "postgresql" else number


def _error_line(script: str, pieces: Sequence[str], outcome: ScriptOutcome) -> int | None:
    """The line of the script where the statement that failed starts (``outcome.error_line``
    says where its piece does, while it runs)."""
    lines = start_lines(script, list(pieces))
    if outcome.error_line is None or outcome.error_line not in lines:
        return None
    piece = pieces[lines.index(outcome.error_line)]
    return error_line(script, piece, outcome.error_line, len(pieces) > 1, outcome.error)


def _fetch_bounded(
    cursor: pyodbc.Cursor,
    outcome: ScriptOutcome,
    kept: ResultSetOutcome,
    max_rows: int,
    watchdog: Watchdog,
) -> None:
    while not watchdog.fired:
        wanted = min(_FETCH_CHUNK, max_rows + 1 - len(kept.rows))
        chunk = cursor.fetchmany(wanted)
        got = len(chunk)
        for row in chunk:
            values = [_kept_value(outcome, kept, v) for v in row]
            outcome.kept_chars += sum(len(v) if isinstance(v, str) else 8 for v in values)
            if outcome.kept_chars > MAX_RESULT_CHARS:
                kept.truncated = True
                return
            kept.rows.append(values)
        del chunk
        if len(kept.rows) > max_rows:
            del kept.rows[max_rows:]
            kept.truncated = True
            return  # nextset() or close() discards the rest without reading it
        if got < wanted:  # pyodbc stops short only at the end of the rows
            return


def _kept_value(outcome: ScriptOutcome, kept: ResultSetOutcome, value: Any) -> Any:
    value, cut = cut_value(value)
    if cut:
        kept.truncated = outcome.large_values = True
    return json_value(value)


def _add_messages(outcome: ScriptOutcome, messages: Sequence[tuple[Any, Any]]) -> None:
    """Keep the first ``MAX_MESSAGES`` - 1 messages and count the rest (``_close_messages``
    then says how many were dropped, in the line the job database keeps last), each with its
    severity, SQLSTATE and number where the driver gives them (``message_details``)."""
    found = [(str(prefix), _VENDOR_PREFIX.sub("", str(text))) for prefix, text in messages]
    room = max(0, MAX_MESSAGES - 1 - len(outcome.messages))
    for prefix, text in found[:room]:
        outcome.messages.append(text[:MAX_MESSAGE_CHARS])
        outcome.message_details.append(_message_detail(prefix, text))
    outcome.messages_dropped += max(0, len(found) - room)


# pyodbc's prefix of a message: "[01000] (50000)" (SQLSTATE, native number).
_MESSAGE_PREFIX = re.compile(r"\[(\w{5})\]\s*\((-?\d+)\)")
_SEVERITY = re.compile(r"^(DEBUG|LOG|INFO|NOTICE|WARNING|Note|Warning|Error)\b:?\s*(\d+)?")


def _message_detail(prefix: str, text: str) -> dict[str, Any]:
    detail: dict[str, Any] = {"severity": None, "sqlstate": None, "number": None}
    state = _MESSAGE_PREFIX.search(prefix)
    if state:
        detail["sqlstate"], detail["number"] = state.group(1), int(state.group(2))
    level = _SEVERITY.match(text)
    if level:
        detail["severity"] = level.group(1).upper()
        if level.group(2):
            detail["number"] = int(level.group(2))
    return detail


def _close_messages(outcome: ScriptOutcome) -> None:
    if outcome.messages_dropped:
        outcome.messages.append(dropped_messages_line(outcome.messages_dropped))
        outcome.message_details.append({"severity": None, "sqlstate": None, "number": None})


def release_memory(outcome: ScriptOutcome | None = None) -> None:
    """Give the heap that a huge value took back to the system (glibc keeps freed memory in
    its arenas otherwise, and a 200 MB value would keep the host 200 MB+ bigger for good)."""
    if outcome is None or outcome.large_values:
        gc.collect()
        memory.trim()


def _add_mysql_warnings(cursor: pyodbc.Cursor, outcome: ScriptOutcome) -> None:
    cursor.execute("SHOW WARNINGS")
    _add_messages(outcome, [("", f"{lvl} {code}: {text}") for lvl, code, text in cursor.fetchall()])


def _create_output_table(
    cursor: pyodbc.Cursor, dialect: Dialect, table: OutputTable, specs: Sequence[ColumnSpec]
) -> None:
    queries = dialect.create_output_table(table, specs)
    # Targets of one step create the same table at once, and "IF NOT EXISTS" is no guard
    # against a creator that has not committed yet: the loser gets a duplicate-key error once
    # the winner commits. Each statement can be lost at most once, so one try more than there
    # are statements finds everything there; a real problem fails every time.
    tries = len(queries) + 1
    for attempt in range(1, tries + 1):
        try:
            for query in queries:
                cursor.execute(query.sql, *query.params)
            return
        except pyodbc.Error:
            if attempt == tries:
                raise


def _error_text(error: pyodbc.Error, auth: ConnectionAuth) -> tuple[str, str | None]:
    """(message, sqlstate) of a driver error, without vendor tags, function names or secrets."""
    args = error.args
    sqlstate = str(args[0]) if len(args) > 1 else None
    text = str(args[1] if len(args) > 1 else args[0] if args else error)
    text = _ODBC_FUNCTION_SUFFIX.sub("", _VENDOR_PREFIX.sub("", text)).strip()
    return str(redact(text, auth.secrets)), sqlstate
