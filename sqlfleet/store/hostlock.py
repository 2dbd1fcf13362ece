"""One host per SQLite job database: an exclusive lock on ``<database>.lock`` beside it.

Every host runs a schedule orchestration per recurring job in its own task hub and reconciles
the active executions of its job database against that task hub
(``activities.reconciliation``). Two hosts with different task hubs on one job database would
therefore start every scheduled run twice, and each would end the other's executions as
orphans (their orchestrations are not in its task hub). On Azure, the instances of one app share
one task hub and one server job database (Azure SQL, PostgreSQL), which is right and needs no
lock; a SQLite job database is one machine's, so the host that opens it locks it, with
``fcntl.flock``, which the kernel drops when the process ends, however it ends.

The lock file names its holder (pid, command line, start time) for the host that is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sqlfleet.errors import JobDatabaseInUse

if sys.platform != "win32":
    import fcntl

# The holder writes its record right after it takes the lock.
_RECORD_WAIT_SECONDS = 2.0


def sqlite_database_path(url: str) -> Path | None:
    """The file of a SQLite job database URL, or None (a server database, an in-memory one, a
    URL SQLAlchemy cannot parse: the store reports that one when it opens)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        if "mode=memory" in database or parsed.query.get("mode") == "memory":
            return None
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database).absolute()


class JobDatabaseLock:
    """The held lock on a SQLite job database; ``release`` (or the process's end) frees it."""

    def __init__(self, database: Path, descriptor: int | None) -> None:
        self.database = database
        self._descriptor = descriptor

    @classmethod
    def acquire(cls, database: Path) -> JobDatabaseLock:
        """Lock ``database`` for this process (its folder is created, owner-only, if missing;
        the lock file is owner-only too, made private if it was not). Raises
        ``JobDatabaseInUse`` naming the holder, ``OSError`` when the folder is not writable."""
        if sys.platform == "win32":  # no flock there
            return cls(database, None)
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = lock_path(database)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise JobDatabaseInUse(str(database), str(path), holder) from None
        except BaseException:
            os.close(descriptor)
            raise
        if os.fstat(descriptor).st_mode & 0o077:
            os.fchmod(descriptor, 0o600)
        record = {
            "pid": os.getpid(),
            "command": " ".join(sys.orig_argv),
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        data = (json.dumps(record) + "\n").encode()
        os.pwrite(descriptor, data, 0)
        os.ftruncate(descriptor, len(data))
        return cls(database, descriptor)

    def release(self) -> None:
        """Empty the record and free the lock (idempotent)."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        try:
            os.ftruncate(descriptor, 0)
        finally:
            os.close(descriptor)


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def _read_holder(descriptor: int) -> dict[str, Any]:
    deadline = time.monotonic() + _RECORD_WAIT_SECONDS
    while True:
        text = os.pread(descriptor, 8192, 0).decode("utf-8", errors="replace")
        try:
            record, _ = json.JSONDecoder().raw_decode(text)
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("pid"):
            return record
        if time.monotonic() > deadline:
            return {}
        time.sleep(0.05)  # the holder has the lock and is about to write its record
