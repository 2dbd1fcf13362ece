"""Every conversation with a target database, through pyodbc (the project's only pyodbc user).

- ``connect``: a connection to one target, signed in with a ``ConnectionAuth`` (a context
  manager: it closes the connection the way the driver needs).
- ``list_databases``: the databases of a server or elastic-pool member right now.
- ``run_script``: a step's script on one target, cancelled at the step timeout; it keeps the
  first result set (bounded), every PRINT/notice/info message and the driver's error text.
- ``write_output``: a first result set into the step's output table (created when missing).

What each driver reports as messages: SQL Server PRINT and RAISERROR ≤ 10 (``cursor.messages``);
PostgreSQL ``RAISE NOTICE``/``WARNING`` (psqlODBC joins the notices of one call with ';');
MariaDB/MySQL have no messages, so their warnings and notes (``SHOW WARNINGS``, which covers the
last statement only) stand in; SQLite has none. Values in rows are JSON-safe
(``sqlfleet.values``).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyodbc

from sqlfleet.engines import ColumnSpec, Dialect, OutputTable, SqliteDialect, dialect_for
from sqlfleet.errors import SqlFleetError
from sqlfleet.redaction import redact
from sqlfleet.scripts import substitute_variables
from sqlfleet.signin import ConnectionAuth
from sqlfleet.targets import MemberLike, Target
from sqlfleet.values import bind_value, datetimeoffset_text, json_value

__all__ = [
    "ScriptOutcome",
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
_FETCH_CHUNK = 500
_SQL_SS_TIMESTAMPOFFSET = -155  # SQL Server datetimeoffset, which pyodbc cannot read natively
# "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]" and "[ma-3.1.15][10.11.19-MariaDB]".
_VENDOR_PREFIX = re.compile(r"^(?:\[[^\]]*\]\s*)+")
_ODBC_FUNCTION_SUFFIX = re.compile(r"\s*\(SQL\w+\)\s*$")
# psqlODBC reports every failed connection as 08001, a refused sign-in too; the server's FATAL
# text tells them apart, and a refused sign-in must not be retried with the same secret.
_POSTGRES_REFUSED_SIGN_IN = (
    (re.compile(r"FATAL:\s+password authentication failed"), "28P01"),
    (re.compile(r'FATAL:\s+(?:role ".*" does not exist|no pg_hba\.conf entry)'), "28000"),
    (re.compile(r"FATAL:\s+pg_hba\.conf rejects connection"), "28000"),
)
# The SQLite3 ODBC driver (libsqlite3odbc 0.9998) corrupts its own state when two threads connect
# or disconnect at the same moment: a SIGSEGV or an endless loop inside SQLDriverConnect or
# SQLDisconnect, about once in 8,000 connections at 32 threads. The cause is in its source:
# connecting appends the connection to a list on the driver's environment and disconnecting
# unlinks it, with a lock only on Windows, and unixODBC gives every connection of a process the
# same driver environment. Holding libodbcinst (below) does not change this. Its connects and
# closes take turns; statements still run side by side. The other drivers are thread-safe.
_DRIVER_TURNS = {"sqlite": threading.Lock()}


# MariaDB Connector/C reads <MARIADB_HOME>/my.cnf when a connection string says USE_MYCNF=1, as
# every mysql one does (sqlfleet.engines.MySqlDialect): that file switches LOAD DATA LOCAL
# INFILE off, which Connector/ODBC before 3.1.16 cannot do otherwise. SQL Fleet owns this
# variable in its process; it is set on import, before any connection reads it.
MARIADB_OPTIONS_FOLDER = Path(__file__).resolve().with_name("mariadb")
os.environ["MARIADB_HOME"] = str(MARIADB_OPTIONS_FOLDER)

_INSTALLER_LIBRARY_NAMES = ("libodbcinst.so.2", "libodbcinst.so.1", "libodbcinst.so")


def _hold_installer_library() -> ctypes.CDLL | None:
    """Keep unixODBC's installer library (``libodbcinst``) loaded for the life of the process.

    The SQLite3 ODBC driver opens it on every connect (to read DSN settings) and closes it on
    every disconnect: with nobody else holding it, each connection maps and unmaps the library
    again (about 0.1 ms of the 0.28 ms a connect and close take here, and all of it inside the
    driver's turn). One reference held here turns both into a reference count. The names are
    the ones the driver tries, in its order (no ``find_library``: it runs ``ldconfig`` in a
    subprocess). ``None`` where there is no such library (another driver manager)."""
    for name in _INSTALLER_LIBRARY_NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


_INSTALLER_LIBRARY = _hold_installer_library()


class TargetError(SqlFleetError):
    """The driver refused: cannot connect, list or write. ``message`` is its text, redacted."""

    code = "TargetError"

    def __init__(self, where: str, message: str, sqlstate: str | None = None) -> None:
        self.where = where
        self.sqlstate = sqlstate
        super().__init__(f"{where}: {message}")


@dataclasses.dataclass
class ScriptOutcome:
    """What a script did on one target; ``to_json()`` is safe to store and to return."""

    columns: list[ColumnSpec] | None = None  # of the first result set; None if there was none
    rows: list[list[Any]] = dataclasses.field(default_factory=list)
    truncated: bool = False  # the first result set had more than max_rows rows
    messages: list[str] = dataclasses.field(default_factory=list)
    rowcount: int = -1  # rows affected by statements without a result set; -1 unknown
    error: str | None = None
    sqlstate: str | None = None
    timed_out: bool = False
    canceled: bool = False  # stopped because the execution was cancelled
    elapsed_seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.error is None and not self.timed_out and not self.canceled

    def to_json(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["succeeded"] = self.succeeded
        return document


@contextlib.contextmanager
def connect(
    target: Target,
    auth: ConnectionAuth,
    driver: str | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> Iterator[pyodbc.Connection]:
    """An autocommit connection to ``target``, closed when the block ends; raises
    ``TargetError`` with the driver's text."""
    engine = dialect_for(target.engine).engine
    connection = _open(engine, target.server, target.port, target.database, auth, driver, timeout)
    try:
        yield connection
    finally:
        _close(connection, engine)


def list_databases(
    member: MemberLike,
    auth: ConnectionAuth,
    driver: str | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> list[str]:
    """The databases of a server or elastic-pool ``member`` (sqlite: ``*.db`` files, sorted).

    Raises ``TargetError`` when the server cannot be reached or refuses the listing.
    """
    dialect = dialect_for(member.engine)
    where = f"listing databases of {dialect.engine} server '{member.server_name}'"
    if isinstance(dialect, SqliteDialect):
        folder = Path(member.server_name)
        if not folder.is_dir():
            raise TargetError(where, f"folder '{folder}' does not exist")
        files = sorted(p.name for p in folder.glob("*" + dialect.database_suffix) if p.is_file())
        return [dialect.database_name(name) for name in files]
    pool = getattr(member, "elastic_pool_name", None)
    if str(getattr(member.target_type, "value", member.target_type)) != "elasticPool":
        pool = None
    query = dialect.list_databases_query(pool)
    connection = _open(dialect.engine, member.server_name, member.port, None, auth, driver, timeout)
    try:
        cursor = connection.cursor()
        cursor.execute(query.sql, *query.params)
        return [str(row[0]) for row in cursor.fetchall()]
    except pyodbc.Error as error:
        raise TargetError(where, *_error_text(error, auth)) from None
    finally:
        _close(connection, dialect.engine)


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
) -> ScriptOutcome:
    """Run ``script`` on ``target`` and report; never raises for connection or SQL errors.

    Script variables are substituted first, then the script is split as the engine needs
    (``GO`` batches for sqlserver, statements for sqlite); the first error stops the script
    (a retry runs all of it again). When ``timeout_seconds`` pass, the running statement is
    cancelled (``SQLCancel`` from a watchdog thread) and the outcome says ``timed_out``. Only
    the first result set is kept, at most ``max_rows`` rows (``truncated`` says more existed);
    a caller that writes an output table passes the bound it wants written.
    """
    started = time.monotonic()
    outcome = ScriptOutcome()
    dialect = dialect_for(target.engine)
    pieces = dialect.statements(substitute_variables(script, variables or {}))
    try:
        connection = _open(
            dialect.engine,
            target.server,
            target.port,
            target.database,
            auth,
            driver,
            min(CONNECT_TIMEOUT_SECONDS, timeout_seconds),
        )
    except SqlFleetError as error:
        # Unreachable servers and values the driver cannot carry both fail the target.
        outcome.error = error.message
        outcome.sqlstate = getattr(error, "sqlstate", None)
        outcome.elapsed_seconds = time.monotonic() - started
        return outcome
    remaining = max(0.0, timeout_seconds - (time.monotonic() - started))
    try:
        cursor = connection.cursor()
        with _Watchdog(cursor, remaining, cancel) as watchdog:
            try:
                _run_pieces(cursor, pieces, outcome, max_rows, watchdog)
                if dialect.engine == "mysql" and not watchdog.fired:
                    _add_mysql_warnings(cursor, outcome)
            except pyodbc.Error as error:
                if not watchdog.fired:
                    outcome.error, outcome.sqlstate = _error_text(error, auth)
        if watchdog.canceled:
            outcome.canceled = True
            outcome.error = "the script was cancelled: the execution was cancelled"
        elif watchdog.fired:
            outcome.timed_out = True
            outcome.error = (
                f"the script ran longer than the step timeout ({timeout_seconds:g} s) "
                "and was cancelled"
            )
    finally:
        _close(connection, dialect.engine)
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
) -> int:
    """Append ``rows`` (JSON-safe, as ``run_script`` returns them) to ``table`` on ``target``.

    Creates the table (columns typed from ``columns`` plus ``internal_execution_id`` and its
    index) when missing; rows go in one transaction. Returns the number of rows written.
    Raises ``TargetError`` with the driver's text (e.g. the table exists with other columns).
    """
    specs = [c if isinstance(c, ColumnSpec) else ColumnSpec(**c) for c in columns]
    dialect = dialect_for(target.engine)
    where = f"writing output table '{table.table}' on {target.server}/{target.database}"
    marker = str(internal_execution_id)
    values = [
        [bind_value(c.kind, v) for c, v in zip(specs, row, strict=True)] + [marker] for row in rows
    ]
    with connect(target, auth, driver, min(CONNECT_TIMEOUT_SECONDS, timeout_seconds)) as connection:
        cursor = connection.cursor()
        with _Watchdog(cursor, timeout_seconds) as watchdog:
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


def _open(
    engine: str,
    server: str,
    port: int | None,
    database: str | None,
    auth: ConnectionAuth,
    driver: str | None,
    timeout: float,
) -> pyodbc.Connection:
    dialect = dialect_for(engine)
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
    )
    try:
        with _DRIVER_TURNS.get(dialect.engine) or contextlib.nullcontext():
            connection = pyodbc.connect(
                text.secret_text(),
                autocommit=True,
                timeout=max(1, math.ceil(timeout)),
                attrs_before=auth.attrs_before or None,
            )
    except pyodbc.Error as error:
        if isinstance(dialect, SqliteDialect) and database is not None:
            path = Path(dialect.database_path(server, database))
            if not path.is_file():
                raise TargetError(where, f"database file '{path}' does not exist") from None
        raise TargetError(where, *_error_text(error, auth)) from None
    if dialect.engine == "sqlserver":
        connection.add_output_converter(_SQL_SS_TIMESTAMPOFFSET, datetimeoffset_text)
    return connection


def _close(connection: pyodbc.Connection, engine: str) -> None:
    with _DRIVER_TURNS.get(engine) or contextlib.nullcontext():
        connection.close()


class _Watchdog:
    """Cancels the cursor's running statement once ``seconds`` have passed, or as soon as
    ``cancel`` is set (a user cancelled the execution), and says which happened.

    One thread (``_STATEMENTS``) watches every running statement of the process; the cancel
    itself (``SQLCancel``, which for some drivers opens a connection) runs on a thread of its
    own, and leaving the block waits for it, so the connection is never closed under it.
    """

    def __init__(
        self, cursor: pyodbc.Cursor, seconds: float, cancel: threading.Event | None = None
    ) -> None:
        self.cursor = cursor
        self.deadline = time.monotonic() + max(0.0, seconds)
        self.cancel = cancel
        self.lock = threading.Lock()
        self.finished = False
        self.fired = False
        self.canceled = False
        self.canceller: threading.Thread | None = None

    def __enter__(self) -> _Watchdog:
        _STATEMENTS.watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.finished = True
            canceller = self.canceller
        _STATEMENTS.forget(self)
        if canceller is not None:
            canceller.join()

    def due(self, now: float) -> bool:
        return now >= self.deadline or (self.cancel is not None and self.cancel.is_set())

    def fire(self) -> None:
        with self.lock:
            # A script that just finished must not be reported as timed out or cancelled.
            if self.finished:
                return
            self.fired = True
            self.canceled = self.cancel is not None and self.cancel.is_set()
            self.canceller = threading.Thread(
                target=self._cancel_statement, name="odbc-cancel", daemon=True
            )
            self.canceller.start()

    def _cancel_statement(self) -> None:
        # An error here means nothing is running any more; the script's thread sees ``fired``.
        with contextlib.suppress(pyodbc.Error):
            self.cursor.cancel()


class _StatementWatcher:
    """The one thread that fires ``_Watchdog``s: it sleeps until the earliest deadline, and
    looks at the cancel events every ``POLL_SECONDS`` while some statement has one."""

    POLL_SECONDS = 0.25

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._watched: set[_Watchdog] = set()
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None

    def watch(self, watchdog: _Watchdog) -> None:
        with self._changed:
            self._watched.add(watchdog)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="odbc-watchdog", daemon=True)
                self._thread.start()
            # Wake the thread only when it would sleep past this statement's first look.
            first_look = watchdog.deadline
            if watchdog.cancel is not None:
                first_look = min(first_look, time.monotonic() + self.POLL_SECONDS)
            if first_look < self._wake_at:
                self._changed.notify()

    def forget(self, watchdog: _Watchdog) -> None:
        with self._changed:
            self._watched.discard(watchdog)

    def _run(self) -> None:
        while True:
            with self._changed:
                due = self._wait_for_due()
            for watchdog in due:
                watchdog.fire()

    def _wait_for_due(self) -> list[_Watchdog]:
        while True:
            now = time.monotonic()
            due = [w for w in self._watched if w.due(now)]
            if due:
                self._watched.difference_update(due)
                return due
            wake_at = min((w.deadline for w in self._watched), default=math.inf)
            if any(w.cancel is not None for w in self._watched):
                wake_at = min(wake_at, now + self.POLL_SECONDS)
            self._wake_at = wake_at
            self._changed.wait(None if wake_at == math.inf else wake_at - now)
            self._wake_at = math.inf


_STATEMENTS = _StatementWatcher()


def _run_pieces(
    cursor: pyodbc.Cursor,
    pieces: Sequence[str],
    outcome: ScriptOutcome,
    max_rows: int,
    watchdog: _Watchdog,
) -> None:
    affected = None
    for piece in pieces:
        if watchdog.fired:
            return
        cursor.execute(piece)
        while True:
            _add_messages(outcome, cursor.messages)
            if cursor.description is not None:
                if outcome.columns is None:
                    outcome.columns = [ColumnSpec.from_description(d) for d in cursor.description]
                    _fetch_bounded(cursor, outcome, max_rows, watchdog)
            elif cursor.rowcount >= 0:
                affected = (affected or 0) + cursor.rowcount
            if watchdog.fired or not cursor.nextset():
                break
    outcome.rowcount = -1 if affected is None else affected


def _fetch_bounded(
    cursor: pyodbc.Cursor, outcome: ScriptOutcome, max_rows: int, watchdog: _Watchdog
) -> None:
    while not watchdog.fired:
        wanted = min(_FETCH_CHUNK, max_rows + 1 - len(outcome.rows))
        chunk = cursor.fetchmany(wanted)
        outcome.rows.extend([json_value(v) for v in row] for row in chunk)
        if len(outcome.rows) > max_rows:
            del outcome.rows[max_rows:]
            outcome.truncated = True
            return  # nextset() or close() discards the rest without reading it
        if len(chunk) < wanted:  # pyodbc stops short only at the end of the rows
            return


def _add_messages(outcome: ScriptOutcome, messages: Sequence[tuple[Any, Any]]) -> None:
    for _prefix, text in messages:
        if len(outcome.messages) > MAX_MESSAGES:
            return
        if len(outcome.messages) == MAX_MESSAGES:
            outcome.messages.append(f"(more than {MAX_MESSAGES} messages; the rest were dropped)")
            return
        outcome.messages.append(_VENDOR_PREFIX.sub("", str(text))[:MAX_MESSAGE_CHARS])


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
    if sqlstate == "08001":
        refused = (state for pattern, state in _POSTGRES_REFUSED_SIGN_IN if pattern.search(text))
        sqlstate = next(refused, sqlstate)
    return str(redact(text, auth.secrets)), sqlstate
