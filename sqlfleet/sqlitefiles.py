"""SQLite targets: files on this host, opened with Python's ``sqlite3`` and held to themselves.

A step on a SQLite file may read and change that file and nothing else of the host. The SQLite3
ODBC driver (Debian's ``libsqliteodbc``, libsqlite3odbc 0.9998) cannot be held to that, so SQLite
targets do not go through ODBC: it turns ``load_extension()`` on for SQL (a step's
``SELECT load_extension('/x/evil.so')`` runs native code inside the host), its ``LoadExt``
attribute only loads more, and it offers no authorizer, no limits and no ``sqlite3_db_config``,
so ``ATTACH`` reads any file and ``VACUUM INTO`` writes anywhere. Python's ``sqlite3`` has all
three. A connection here:

- opens the file that ``sqlfleet.sqlitefolders`` resolved and allowed (under
  ``SQLFLEET_SQLITE_ROOTS``, never the host's data), by URI with ``mode=rw``: a missing file
  fails and is never created;
- keeps extension loading off (``SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION``; Python never turns
  it on) and refuses ``load_extension()`` and ``fts3_tokenizer()`` (whose two-argument form
  takes a C pointer) in its authorizer;
- refuses ``ATTACH`` of any file and ``DETACH``; ``VACUUM INTO 'file'`` attaches its file the
  same way and is refused with it, while a plain ``VACUUM`` (whose copy is a nameless
  temporary database) works; at most one database may be attached (``SQLITE_LIMIT_ATTACHED``);
- refuses ``PRAGMA temp_store_directory``/``data_store_directory`` (folders of the whole
  process), keeps ``trusted_schema`` off (functions in a file's own schema run as if the step
  had called them, and are authorized the same way) and, on Python 3.12+, runs in defensive
  mode.

The authorizer's reason reaches the target's message: "not authorized: ATTACH and VACUUM INTO
open another file; ...". ``run_script``, ``write_output`` and ``list_databases`` behave as
``sqlfleet.odbc``'s (which hands SQLite targets here): statements one by one, the first result
set kept (bounded), the step timeout and cancels through ``Watchdog`` (``interrupt()``).
SQLite has no messages, and no column types beyond what values are: each column's kind is that
of its values (integer, float, text, binary; text when they differ or are all NULL).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlfleet.dialects import ColumnSpec, OutputTable, SqliteDialect
from sqlfleet.errors import SqliteFolderRefused
from sqlfleet.outcomes import MAX_RESULT_SETS, ScriptOutcome, TargetError, start_lines
from sqlfleet.scripts import substitute_variables
from sqlfleet.settings import get_settings
from sqlfleet.sqlitefolders import SqliteFolders
from sqlfleet.targets import Target
from sqlfleet.values import bind_value, cut_value, json_value
from sqlfleet.watchdogs import Watchdog

# SQLite errors have no SQLSTATE; ODBC's "general error" keeps them retryable as before. A
# folder the host does not allow is refused for good, like a refused sign-in.
GENERAL_ERROR = "HY000"
REFUSED = "28000"
_FETCH_CHUNK = 500
# Longest single busy wait of a statement on a locked file (then it runs again, if in time).
BUSY_SLICE_SECONDS = 0.5
_SQLITE = SqliteDialect()
_KINDS = {int: "integer", float: "float", str: "text", bytes: "binary"}
# Functions that load native code: load_extension(), and fts3_tokenizer(name, pointer).
_NATIVE_CODE_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})
_PROCESS_FOLDER_PRAGMAS = frozenset({"temp_store_directory", "data_store_directory"})
# SQLITE_DBCONFIG_* options set on every connection where Python offers setconfig (3.12+).
_CONFIG = (
    ("SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION", False),
    ("SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER", False),
    ("SQLITE_DBCONFIG_TRUSTED_SCHEMA", False),
    ("SQLITE_DBCONFIG_DEFENSIVE", True),
)


class TargetConnection(sqlite3.Connection):
    """A connection to one SQLite target, held to its file (see the module docstring).
    ``refusal`` says why the authorizer last said no."""

    refusal: str | None = None

    def lock_down(self) -> None:
        self.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 1)  # VACUUM's temporary copy needs one
        setconfig = getattr(self, "setconfig", None)
        if setconfig is not None:
            for name, value in _CONFIG:
                setconfig(getattr(sqlite3, name), value)
        else:
            self.execute("PRAGMA trusted_schema = OFF")
        self.set_authorizer(self._authorize)

    def interrupt_quietly(self) -> None:
        """Stop the running statement (a watchdog's call); nothing when none runs."""
        with contextlib.suppress(sqlite3.Error):
            self.interrupt()

    def explain(self, error: BaseException) -> str:
        """The text of ``error``, with the authorizer's reason when it refused."""
        text = str(error)
        # "not authorized" (or "not authorized to use function: f") when a statement is
        # prepared, "authorization denied" when VACUUM INTO prepares its ATTACH as it runs.
        if text.startswith(("not authorized", "authorization denied")) and self.refusal:
            return f"{text}: {self.refusal}"
        return text

    def _authorize(
        self, action: int, first: str | None, second: str | None, *_where: str | None
    ) -> int:
        reason = _refusal(action, first, second)
        if reason is None:
            return sqlite3.SQLITE_OK
        self.refusal = reason
        return sqlite3.SQLITE_DENY


def _refusal(action: int, first: str | None, second: str | None) -> str | None:
    """Why the statement being prepared may not do ``action``; None when it may."""
    # The file name is None when it is an expression ('/etc/' || 'x'); only the nameless
    # temporary database (a plain VACUUM's copy, or ATTACH '') is no file of the host.
    if action == sqlite3.SQLITE_ATTACH and first != "":
        return (
            "ATTACH and VACUUM INTO open another file; a step on a SQLite target reaches "
            "that target's file only"
        )
    if action == sqlite3.SQLITE_DETACH:
        return "DETACH: a step on a SQLite target attaches no other database"
    if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in _NATIVE_CODE_FUNCTIONS:
        return f"{second}() would load native code into the host"
    if action == sqlite3.SQLITE_PRAGMA:
        pragma = (first or "").lower()
        if pragma in _PROCESS_FOLDER_PRAGMAS:
            return f"PRAGMA {pragma} sets a folder of the whole host process"
        if pragma == "trusted_schema" and second is not None:
            return "PRAGMA trusted_schema stays off on SQLite targets"
    return None


def open_database(
    folder: str,
    database: str,
    *,
    busy_timeout: float,
    folders: SqliteFolders | None = None,
) -> TargetConnection:
    """The locked-down connection to ``database`` in ``folder``. Raises ``TargetError``: the
    folder or file is not allowed (``sqlstate`` "28000"; nothing was opened), or the file does
    not exist (it is never created) or cannot be opened."""
    where = f"connecting to sqlite '{folder}' database '{database}'"
    try:
        path = (folders or _host_folders()).database_file(folder, database)
    except SqliteFolderRefused as refused:
        raise TargetError(where, f"{refused.message}; nothing was opened", REFUSED) from None
    try:
        # mode=rw: a missing file fails (and is never created); so does a folder.
        connection = sqlite3.connect(
            f"{path.as_uri()}?mode=rw",
            uri=True,
            timeout=busy_timeout,
            isolation_level=None,  # no implicit transactions: a script's BEGIN is its own
            factory=TargetConnection,
        )
    except sqlite3.Error as error:
        if not path.is_file():
            shown = _SQLITE.database_path(folder, database)
            raise TargetError(
                where, f"database file '{shown}' does not exist", GENERAL_ERROR
            ) from None
        raise TargetError(where, str(error), GENERAL_ERROR) from None
    assert isinstance(connection, TargetConnection)
    try:
        connection.lock_down()
    except sqlite3.Error as error:
        connection.close()
        raise TargetError(where, str(error), GENERAL_ERROR) from None
    return connection


@contextlib.contextmanager
def connect(
    target: Target, *, timeout: float = 30, folders: SqliteFolders | None = None
) -> Iterator[TargetConnection]:
    """``open_database`` for ``target``, closed when the block ends."""
    connection = open_database(
        target.server, target.database, busy_timeout=timeout, folders=folders
    )
    try:
        yield connection
    finally:
        connection.close()


def list_databases(folder: str, folders: SqliteFolders | None = None) -> list[str]:
    """The databases of a SQLite "server": the ``*.db`` files of ``folder``, sorted, without
    the suffix. Raises ``TargetError`` when the folder is not allowed or does not exist."""
    where = f"listing databases of sqlite server '{folder}'"
    try:
        resolved = (folders or _host_folders()).folder(folder)
    except SqliteFolderRefused as refused:
        raise TargetError(where, f"{refused.message}; nothing was opened", REFUSED) from None
    if not resolved.is_dir():
        raise TargetError(where, f"folder '{folder}' does not exist")
    suffix = _SQLITE.database_suffix
    with os.scandir(resolved) as entries:  # a directory entry knows whether it is a file
        files = sorted(e.name for e in entries if e.name.endswith(suffix) and e.is_file())
    return [_SQLITE.database_name(name) for name in files]


def run_script(
    target: Target,
    script: str,
    *,
    timeout_seconds: float,
    max_rows: int,
    variables: Mapping[str, object] | None = None,
    cancel: threading.Event | None = None,
    folders: SqliteFolders | None = None,
) -> ScriptOutcome:
    """Run ``script`` on the SQLite ``target`` as ``sqlfleet.odbc.run_script`` does; never
    raises for SQL errors or a file that cannot be opened."""
    started = time.monotonic()
    outcome = ScriptOutcome()
    text = substitute_variables(script, variables) if variables else script
    pieces, lines = _pieces(text)
    try:
        # SQLite's busy wait does not see interrupt(): it waits in short slices, and a
        # statement that found the file locked is run again until the watchdog fires.
        connection = open_database(
            target.server,
            target.database,
            busy_timeout=min(BUSY_SLICE_SECONDS, timeout_seconds),
            folders=folders,
        )
    except TargetError as error:
        outcome.error, outcome.sqlstate = error.message, error.sqlstate
        outcome.elapsed_seconds = time.monotonic() - started
        return outcome
    remaining = max(0.0, timeout_seconds - (time.monotonic() - started))
    try:
        cursor = connection.cursor()
        with Watchdog(connection.interrupt_quietly, remaining, cancel) as watchdog:
            try:
                _run_pieces(cursor, pieces, outcome, max_rows, watchdog, lines)
            except (sqlite3.Error, sqlite3.Warning) as error:
                if not watchdog.fired:
                    outcome.error = connection.explain(error)
                    outcome.sqlstate = GENERAL_ERROR
                    outcome.error_number = getattr(error, "sqlite_errorcode", None)
                    outcome.error_line = outcome.error_line if len(pieces) > 1 else None
        if watchdog.fired:
            outcome.stopped(canceled=watchdog.canceled, timeout_seconds=timeout_seconds)
    finally:
        connection.close()
        outcome.settle()
    outcome.elapsed_seconds = time.monotonic() - started
    return outcome


def write_output(
    target: Target,
    table: OutputTable,
    columns: Sequence[ColumnSpec],
    rows: Sequence[Sequence[Any]],
    internal_execution_id: str | uuid.UUID,
    *,
    timeout_seconds: float = 600,
    folders: SqliteFolders | None = None,
) -> int:
    """``sqlfleet.odbc.write_output`` for a SQLite ``target``: the table is created when
    missing, the rows go in one transaction. Raises ``TargetError``."""
    where = f"writing output table '{table.table}' on {target.server}/{target.database}"
    marker = str(internal_execution_id)
    values = [
        [_sqlite_value(bind_value(c.kind, v)) for c, v in zip(columns, row, strict=True)] + [marker]
        for row in rows
    ]
    with connect(target, timeout=timeout_seconds, folders=folders) as connection:
        cursor = connection.cursor()
        with Watchdog(connection.interrupt_quietly, timeout_seconds) as watchdog:
            try:
                _create_output_table(cursor, table, columns)
                if values:
                    cursor.execute("BEGIN")
                    cursor.executemany(_SQLITE.insert_output(table, columns), values)
                    cursor.execute("COMMIT")
            except (sqlite3.Error, sqlite3.Warning) as error:
                if connection.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        cursor.execute("ROLLBACK")
                if watchdog.fired:
                    raise TargetError(where, f"cancelled after {timeout_seconds:g} s") from None
                raise TargetError(where, connection.explain(error)) from None
    return len(values)


@functools.lru_cache(maxsize=16)
def _pieces(text: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The statements of ``text`` and the line each starts on: the same for every target of a
    step (a script without variables is the same text), so worked out once."""
    pieces = _SQLITE.statements(text)
    return tuple(pieces), tuple(start_lines(text, pieces))


def _host_folders() -> SqliteFolders:
    return SqliteFolders.from_settings(get_settings())


def _run_pieces(
    cursor: sqlite3.Cursor,
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
        _execute(cursor, piece, watchdog)
        if cursor.description is not None:
            if len(outcome.result_sets) >= MAX_RESULT_SETS:
                outcome.result_sets_dropped += 1
                continue
            names = [str(d[0] or "") for d in cursor.description]
            raw, truncated = _fetch_bounded(cursor, outcome, max_rows, watchdog)
            columns, rows = _result_set(names, raw)
            kept = outcome.add_result_set(columns)
            assert kept is not None
            kept.rows.extend(rows)
            kept.truncated = truncated
        elif cursor.rowcount >= 0:
            affected = (affected or 0) + cursor.rowcount
            outcome.affected_rows.append(cursor.rowcount)
    outcome.error_line = None
    outcome.rowcount = -1 if affected is None else affected


def _execute(cursor: sqlite3.Cursor, piece: str, watchdog: Watchdog) -> None:
    """``piece``, run again while another connection holds the file locked (what a busy
    timeout would do, but stopping when the watchdog fires: at the step timeout or a cancel)."""
    while True:
        try:
            cursor.execute(piece)
            return
        except sqlite3.OperationalError as error:
            busy = getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or watchdog.fired:
                raise


def _fetch_bounded(
    cursor: sqlite3.Cursor, outcome: ScriptOutcome, max_rows: int, watchdog: Watchdog
) -> tuple[list[tuple[Any, ...]], bool]:
    """At most ``max_rows`` rows, and whether rows or values were cut."""
    rows: list[tuple[Any, ...]] = []
    truncated = False
    while not watchdog.fired:
        wanted = min(_FETCH_CHUNK, max_rows + 1 - len(rows))
        chunk = cursor.fetchmany(wanted)
        for row in chunk:
            kept = [cut_value(value) for value in row]
            if any(cut for _, cut in kept):
                truncated = outcome.large_values = True
            rows.append(tuple(value for value, _ in kept))
        if len(rows) > max_rows:
            del rows[max_rows:]
            return rows, True  # the next statement (or close) discards the rest unread
        if len(chunk) < wanted:
            break
    return rows, truncated


def _result_set(
    names: list[str], rows: list[tuple[Any, ...]]
) -> tuple[list[ColumnSpec], list[list[Any]]]:
    """Columns typed by their values, and the rows JSON-safe: a column whose values are of
    different kinds is text, its values as text."""
    columns = []
    mixed = []
    for index, name in enumerate(names):
        kinds = {_KINDS.get(type(row[index]), "text") for row in rows if row[index] is not None}
        if kinds == {"integer", "float"}:
            kinds = {"float"}
        kind = next(iter(kinds)) if len(kinds) == 1 else "text"
        columns.append(ColumnSpec(name, kind))
        mixed.append(len(kinds) > 1)
    converted = [
        [
            None if value is None else str(json_value(value)) if mixed[i] else json_value(value)
            for i, value in enumerate(row)
        ]
        for row in rows
    ]
    return columns, converted


def _sqlite_value(value: Any) -> Any:
    """A bound value as SQLite stores it (its module adapts no dates or decimals by itself)."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time, decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _create_output_table(
    cursor: sqlite3.Cursor, table: OutputTable, columns: Sequence[ColumnSpec]
) -> None:
    queries = _SQLITE.create_output_table(table, columns)
    # As sqlfleet.odbc: targets of one step may create the same table at once.
    tries = len(queries) + 1
    for attempt in range(1, tries + 1):
        try:
            for query in queries:
                cursor.execute(query.sql, query.params)
            return
        except sqlite3.OperationalError:
            if attempt == tries:
                raise
