"""The bench's targets and the plain runner it compares SQL Fleet with.

- ``sqlite_fleet`` / ``postgres_fleet``: N real target databases, as a group member SQL Fleet
  reaches and as ODBC connection strings pyodbc reaches.
- ``on_every_target``: the step's statements on every target through a plain thread pool (the
  baseline a user would otherwise write), with the driver SQL Fleet uses for the engine (the
  SQLite3 ODBC driver for SQLite files, psycopg/libpq for PostgreSQL).
- ``machine_limit``: the same statements with nothing else around them, one thread in one
  process and then two processes side by side: the most this machine does.
- ``disk_pace``: how many files a second this disk creates, syncs and deletes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyodbc

from tests.support.servers import PrivatePostgres

TABLE = "bench_fleet"
STATEMENTS = ("SELECT 1", f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer, note varchar(50))")
STEP_COMMAND = ";\n".join(STATEMENTS)
RESET = f"DROP TABLE IF EXISTS {TABLE}"
JOB, GROUP, CREDENTIAL = "bench", "bench-targets", "bench-login"
CREDENTIAL = "bench-login"
BASELINE_TIMEOUT_SECONDS = 600
DISK_PACE_FILES = 300
# The machine's limit is measured on at most this many targets of a fleet.
LIMIT_SAMPLE = 2000


# The SQLite3 ODBC driver crashes (SIGSEGV inside its SQLDriverConnect or SQLDisconnect) when
# threads connect or disconnect at the same moment: about once in 8,000 connections at 32 threads
# here (its list of connections is unlocked: sqlfleet/odbc.py). So opening and closing
# connections to it take turns, as in SQL Fleet; statements still run side by side.
CONNECT_LOCKS = {"sqlite": threading.Lock(), "postgresql": contextlib.nullcontext()}


@dataclasses.dataclass
class Fleet:
    """N target databases: how SQL Fleet reaches them (a group member) and how pyodbc does."""

    engine: str
    member: dict[str, Any]
    connection_strings: list[str]
    credential: dict[str, Any] | None = None

    @property
    def size(self) -> int:
        return len(self.connection_strings)


def sqlite_fleet(folder: Path, count: int) -> Fleet:
    """``count`` real (non-empty) SQLite databases in ``folder``."""
    folder.mkdir(parents=True)
    strings = []
    for index in range(count):
        path = folder / f"db{index:05d}.db"
        with contextlib.closing(sqlite3.connect(path)) as database:
            database.execute("PRAGMA user_version = 1")
            database.commit()
        strings.append(f"Driver={{SQLite3}};Database={path};NoCreat=1")
    member = {"target_type": "server", "engine": "sqlite", "server_name": str(folder)}
    return Fleet("sqlite", member, strings)


def postgres_fleet(cluster: PrivatePostgres, count: int) -> Fleet:
    """``count`` databases on the private ``cluster`` (its trust auth ignores the password, but
    SQL Fleet still decrypts the credential and signs in with it for every target)."""
    import psycopg
    from psycopg import sql

    names = [f"bench_{index:05d}" for index in range(count)]
    address = cluster.address
    with psycopg.connect(
        host=address.host, port=address.port, user=address.user, dbname="postgres", autocommit=True
    ) as admin:
        existing = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for name in existing - set(names) - {"postgres", "template0", "template1"}:
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
    password = secrets.token_urlsafe(16)
    strings = [
        f"host={address.host} port={address.port} dbname={name} user={address.user} "
        f"password={password} connect_timeout=30"
        for name in names
    ]
    member = {
        "target_type": "server",
        "engine": "postgresql",
        "server_name": address.host,
        "port": address.port,
        "refresh_credential_name": CREDENTIAL,
    }
    credential = {"kind": "password", "username": address.user, "password": password}
    return Fleet("postgresql", member, strings, credential)


def on_every_target(fleet: Fleet, statements: tuple[str, ...], parallelism: int) -> float:
    """Run ``statements`` on every target with a plain thread pool; seconds taken. Raises the
    first driver error."""

    def one(text: str) -> None:
        with CONNECT_LOCKS[fleet.engine]:
            connection = connect(fleet.engine, text)
        try:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
                if cursor.description is not None:
                    cursor.fetchall()
            cursor.close()
        finally:
            with CONNECT_LOCKS[fleet.engine]:
                connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        try:
            for _ in pool.map(one, fleet.connection_strings, timeout=BASELINE_TIMEOUT_SECONDS):
                pass
        except TimeoutError:
            raise SystemExit(
                f"the baseline did not finish within {BASELINE_TIMEOUT_SECONDS} s"
            ) from None
    return time.perf_counter() - started


def disk_pace(folder: Path, count: int = DISK_PACE_FILES, threads: int = 8) -> float:
    """Files per second this disk creates, writes, syncs and deletes in ``folder``, ``threads``
    at a time: what each SQLite write transaction in the default journal mode does with its
    journal file, and so about the most targets/s any runner of the bench's ``CREATE TABLE``
    reaches on this disk."""

    def one(index: int) -> None:
        path = folder / f"pace-{index}.tmp"
        handle = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        try:
            os.write(handle, b"\0" * 512)
            os.fsync(handle)
        finally:
            os.close(handle)
        path.unlink()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(count)))
    return count / (time.perf_counter() - started)


def connect(engine: str, text: str) -> Any:
    """A connection as SQL Fleet's own driver for ``engine`` makes it: SQLite files through
    the SQLite3 ODBC driver (pyodbc), PostgreSQL through libpq (psycopg, as
    ``sqlfleet.postgres``); both in autocommit."""
    if engine == "postgresql":
        import psycopg

        return psycopg.connect(text, autocommit=True)
    return pyodbc.connect(text, autocommit=True, timeout=30)


def machine_limit(fleet: Fleet, statements: tuple[str, ...]) -> tuple[float, float]:
    """Targets per second doing only ``statements`` on every target: one thread in this
    process, then two processes at once (each a half, one after the other). The 2-core
    machine's own pace, against which both runners are read."""
    sample = fleet.connection_strings[:LIMIT_SAMPLE]  # a pace: a few thousand targets tell it
    started = time.perf_counter()
    _sequentially(fleet.engine, sample, statements)
    one_thread = len(sample) / (time.perf_counter() - started)
    halves = [sample[0::2], sample[1::2]]
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(_warm, range(2)))  # the processes exist before the clock starts
        started = time.perf_counter()
        list(pool.map(_sequentially, [fleet.engine] * 2, halves, [statements] * 2))
        two_processes = len(sample) / (time.perf_counter() - started)
    return one_thread, two_processes


def _warm(_: int) -> None:
    return None


def _sequentially(engine: str, strings: list[str], statements: tuple[str, ...]) -> None:
    for text in strings:
        connection = connect(engine, text)
        try:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
                if cursor.description is not None:
                    cursor.fetchall()
            cursor.close()
        finally:
            connection.close()
