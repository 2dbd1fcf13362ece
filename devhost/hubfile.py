"""The task hub's SQLite file, opened for :class:`devhost.store.SqliteTaskHubStore` (this module
and that one are the devhost's only ``sqlite3`` users).

- **Private**: the file holds every orchestration's inputs and outputs (result rows among them),
  so it is created 0600, and an existing one readable by others is made so; SQLite gives its
  ``-wal`` and ``-shm`` files the mode of the database file.
- **Checked**: a file cut short or overwritten would let the host start and then fail, page by
  page, in the engine's loops; so every page is read once on opening (``PRAGMA quick_check``,
  about a second per gigabyte) and a damaged file raises :class:`TaskHubDamaged` naming it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from devhost.datalock import FILE_MODE, make_private_file
from devhost.hubstore import TaskHubDamaged

MEMORY = ":memory:"
# quick_check lists at most this many problems; the message names the first.
_PROBLEMS = 3


def open_hub_file(path: str) -> sqlite3.Connection:
    """A connection to the task hub at ``path`` (created if missing; ``":memory:"`` for one in
    memory), in WAL mode, checked. Raises TaskHubDamaged, OSError when it cannot be created."""
    if path != MEMORY:
        make_private(Path(path))
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA busy_timeout = 10000")
        if path != MEMORY:
            connection.execute("PRAGMA journal_mode = WAL")
            problems = [
                str(row[0]) for row in connection.execute(f"PRAGMA quick_check({_PROBLEMS})")
            ]
            if problems != ["ok"]:
                raise TaskHubDamaged(path, problems[0] if problems else "no answer")
        connection.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as error:
        connection.close()
        raise TaskHubDamaged(path, first_line(error)) from None
    except BaseException:
        connection.close()
        raise
    return connection


def make_private(database: Path) -> None:
    """Create ``database`` owner-only when missing; make it (and its -wal and -shm files) so
    when others may read it."""
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        make_private_file(path)


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]
