"""Fixtures of the bad-input suite: one SQL Fleet host for the session (a real ``python -m
devhost`` subprocess with its own data folder and Fernet key), and a view of its job database
that proves a rejected request wrote nothing."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.jobs.host import JobsHost


@dataclass(frozen=True)
class JobDatabase:
    """The host's SQLite job database, read directly (never through the API under test)."""

    path: Path

    def fingerprint(self) -> dict[str, str]:
        """A digest of every row of every table: equal fingerprints, equal contents."""
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            tables = [
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            digests = {}
            for table in tables:
                quoted = '"' + table.replace('"', '""') + '"'
                rows = sorted(repr(row) for row in connection.execute(f"SELECT * FROM {quoted}"))
                digests[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            return digests
        finally:
            connection.close()

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """The rows of ``query``, read-only."""
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return [tuple(row) for row in connection.execute(query)]
        finally:
            connection.close()

    def raw(self) -> bytes:
        """The database file and its write-ahead log, as bytes (for the secrets scan)."""
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return b"".join(path.read_bytes() for path in files if path.exists())


@pytest.fixture(scope="session")
def badinput_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsHost]:
    folder = tmp_path_factory.mktemp("badinput-host")
    env = {
        "SQLFLEET_DATA_DIR": str(folder / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
        # Tests make their SQLite folders in their own tmp_path: all under the session's base,
        # which holds this host's data folder too (SQL Fleet must keep SQLite targets out).
        "SQLFLEET_SQLITE_ROOTS": str(tmp_path_factory.getbasetemp()),
    }
    host = JobsHost.start(folder, env)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="session")
def job_database(badinput_host: JobsHost) -> JobDatabase:
    path = Path(badinput_host.env["SQLFLEET_DATA_DIR"]) / "jobs.db"
    badinput_host.ok("GET", "/api/jobs")  # the app creates and migrates it on first use
    assert path.exists(), f"no job database at {path}"
    return JobDatabase(path)
