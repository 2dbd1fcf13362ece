"""The job database connection: engine per URL, one transaction per write, errors translated.

SQLite gets what makes it a good shared store: WAL for file databases, foreign keys on, a busy
timeout, and ``BEGIN IMMEDIATE`` for writes so that two writers queue instead of deadlocking.
Writers of one process also queue on a lock before they begin: SQLite's busy handler waits by
sleeping (up to 100 ms a try), which at a few dozen concurrent writers costs far more than the
writes themselves. Small writes that many threads make at once (a target attempt's start and
end) can share one transaction (``write_shared``: group commit), so that a few dozen of them cost
one commit and one turn at the lock. WAL commits skip the fsync (``synchronous=NORMAL``): a
killed process loses nothing, only a power cut can lose the last commits. ``:memory:`` is the
same store on one shared connection (serialised by a lock).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import StaticPool

from sqlfleet import changes
from sqlfleet.errors import ConcurrentChange, JobDatabaseUnavailable, SettingError
from sqlfleet.redaction import redact
from sqlfleet.settings import JOB_DATABASE_URL

SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Reads run side by side under WAL; a pool smaller than the agent's concurrent activities would
# make them queue for a connection.
SQLITE_POOL_SIZE = 16
SQLITE_MAX_OVERFLOW = 48
_WRITE = "sqlfleet_write"
# Work items one shared write transaction takes at most.
SHARED_WRITE_LIMIT = 64

T = TypeVar("T")


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://`` means psycopg 3 (the driver SQL Fleet ships)."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise SettingError(JOB_DATABASE_URL, "is not a valid SQLAlchemy URL") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


class Database:
    """An engine plus the transaction discipline every store method follows."""

    def __init__(self, url: str | URL) -> None:
        self.url = normalise_url(url)
        self._serial: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self._writers: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self._shared: _SharedWrites | None = None
        self.engine = self._create_engine()
        self._writer = self.engine.execution_options(**{_WRITE: True})

    @property
    def dialect_name(self) -> str:
        return self.engine.dialect.name

    def _create_engine(self) -> Engine:
        url = self.url
        options: dict[str, Any] = {"hide_parameters": True, "future": True}
        if url.get_backend_name() != "sqlite":
            options["pool_pre_ping"] = True
            return self._wrap_errors(lambda: sa.create_engine(url, **options))
        options["connect_args"] = {
            "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
            "check_same_thread": False,
        }
        memory = is_memory_sqlite(url)
        if memory:
            options["poolclass"] = StaticPool
            self._serial = threading.RLock()
        else:
            Path(url.database or "").expanduser().absolute().parent.mkdir(
                parents=True, exist_ok=True
            )
            self._writers = threading.RLock()
            self._shared = _SharedWrites(self)
            options["pool_size"] = SQLITE_POOL_SIZE
            options["max_overflow"] = SQLITE_MAX_OVERFLOW
        engine = sa.create_engine(url, **options)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event, not the driver, decide how transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            write = connection.get_execution_options().get(_WRITE, False)
            statement = "BEGIN IMMEDIATE" if write else "BEGIN"
            # Straight to the driver (SQLAlchemy's execution path costs more than the BEGIN),
            # with its errors wrapped as SQLAlchemy's would be.
            driver = connection.connection.dbapi_connection
            assert driver is not None
            try:
                driver.execute(statement)
            except sqlite3.Error as error:
                raise sa.exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from None

        return engine

    @contextlib.contextmanager
    def write(self, kind: str = "object", name: str = "") -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises.

        A unique-key clash from a concurrent writer becomes ``ConcurrentChange(kind, name)``;
        connection failures become ``JobDatabaseUnavailable``.
        """
        with (
            self._serial,
            self._writers,
            self._translated(kind, name),
            self._writer.begin() as connection,
        ):
            changes.take_ended(connection)  # left by a transaction rolled back
            yield connection
            ended = changes.take_ended(connection)
        changes.changed(ended=ended)  # committed: wake this process's long-polls

    def write_shared(self, kind: str, name: str, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in a write transaction, as ``write`` does, which it may share
        with the work of other threads that write at the same moment (SQLite files, where
        writers take turns anyway; elsewhere a transaction of its own). If any work of a
        shared transaction raises, it is rolled back and every work runs again in a
        transaction of its own, so ``work`` must do nothing but its statements. Answers what
        ``work`` answered; raises what it (or ``write``) raised."""
        if self._shared is None:
            with self.write(kind, name) as connection:
                return work(connection)
        return self._shared.run(kind, name, work)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent view for multi-query reads)."""
        with self._serial, self._translated("object", ""), self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def _translated(self, kind: str, name: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.IntegrityError:
            raise ConcurrentChange(kind, name) from None
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            raise JobDatabaseUnavailable(_first_line(error)) from None
        except sa.exc.DBAPIError as error:
            if error.connection_invalidated:
                raise JobDatabaseUnavailable(_first_line(error)) from None
            raise

    def _wrap_errors(self, build: Any) -> Engine:
        try:
            return build()  # type: ignore[no-any-return]
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as error:
            raise SettingError(JOB_DATABASE_URL, f"cannot be used: {_first_line(error)}") from None

    def dispose(self) -> None:
        self.engine.dispose()


class _Pending:
    """One work item of ``write_shared``, waiting for its answer or for its turn to lead."""

    __slots__ = ("kind", "name", "work", "finished", "leads", "result", "error")

    def __init__(self, kind: str, name: str, work: Callable[[Connection], Any]) -> None:
        self.kind, self.name, self.work = kind, name, work
        self.finished = threading.Event()
        self.leads = False
        self.result: Any = None
        self.error: BaseException | None = None

    def answer(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _SharedWrites:
    """Group commit: a writer that finds others already writing queues its work; the leader
    runs everything queued in one transaction, then hands the lead to the next waiter."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._mutex = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False

    def run(self, kind: str, name: str, work: Callable[[Connection], T]) -> T:
        mine = _Pending(kind, name, work)
        with self._mutex:
            self._queue.append(mine)
            leads = not self._leading
            self._leading = True
        if not leads:
            mine.finished.wait()
            if not mine.leads:
                return mine.answer()  # type: ignore[no-any-return]
        while True:
            with self._mutex:
                batch = self._queue[:SHARED_WRITE_LIMIT]
                del self._queue[:SHARED_WRITE_LIMIT]
            self._run_batch(batch)
            with self._mutex:
                if not self._queue:
                    self._leading = False
                    break
                if mine.finished.is_set():
                    following = self._queue[0]
                    following.leads = True
                    following.finished.set()
                    break
        return mine.answer()  # type: ignore[no-any-return]

    def _run_batch(self, batch: list[_Pending]) -> None:
        try:
            with self._database.write(batch[0].kind, batch[0].name) as connection:
                results = [item.work(connection) for item in batch]
        except Exception:  # noqa: BLE001 - each work runs again alone and gets its own answer
            for item in batch:
                self._alone(item)
            return
        except BaseException as error:  # the process is going down: release the waiters
            for item in batch:
                item.error = error
                item.finished.set()
            raise
        for item, result in zip(batch, results, strict=True):
            item.result = result
            item.leads = False
            item.finished.set()

    def _alone(self, item: _Pending) -> None:
        try:
            with self._database.write(item.kind, item.name) as connection:
                item.result = item.work(connection)
        except Exception as error:  # noqa: BLE001 - handed to the thread that asked
            item.error = error
        item.leads = False
        item.finished.set()


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return str(redact(text[0] if text else type(original).__name__))[:500]
