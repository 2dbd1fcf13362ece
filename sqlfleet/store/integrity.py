"""Is a SQLite job database sound? Checked once when a host claims it, before anything uses it.

A truncated or overwritten ``jobs.db`` would otherwise let the host start and answer ``500`` to
every request (or fail later, page by page, as damaged pages are read), and the first sign would
be a traceback in the log. ``PRAGMA quick_check`` reads every page of the file once (about a
second per gigabyte), which is what finds a file cut short; a file that is not SQLite at all
fails at its first page.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.request import pathname2url

from sqlfleet.errors import JobDatabaseCorrupt

# quick_check lists at most this many problems; the message names the first.
_PROBLEMS = 3


def check_sqlite_database(database: Path) -> None:
    """Raise ``JobDatabaseCorrupt`` naming ``database`` unless it is a sound SQLite database;
    a missing or empty file is sound (the store creates the schema there)."""
    try:
        if database.stat().st_size == 0:
            return
    except FileNotFoundError:
        return
    try:
        # mode=rw: never create the file; a hot WAL is recovered as the store would.
        connection = sqlite3.connect(f"file:{pathname2url(str(database))}?mode=rw", uri=True)
        try:
            found = [
                str(row[0])
                for row in connection.execute(f"PRAGMA quick_check({_PROBLEMS})").fetchall()
            ]
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise JobDatabaseCorrupt(str(database), _one_line(str(error))) from None
    if found != ["ok"]:
        raise JobDatabaseCorrupt(str(database), _one_line(found[0] if found else "no answer"))


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    return (lines[0] if lines else "unreadable")[:300]
