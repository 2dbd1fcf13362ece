"""One host per data folder: an exclusive lock on ``<data dir>/devhost.lock``.

Two hosts on one task hub would both run every orchestration and activity: each engine
believes it owns the hub, so scripts run twice while the history shows one attempt. So a host
locks its data folder before it opens the task hub, with ``fcntl.flock`` on a file there. The
kernel holds the lock for as long as the process has the file open and drops it when the
process ends, however it ends (SIGKILL included): a file left behind never blocks a new host.

The file says who holds it (pid, app folder, start time, and the URL it serves once the server
listens), so that a host refused can name the one in the way. It is rewritten in place, never
replaced: a new file would be a new lock.

The folder is the host's alone (0700, and 0600 for what it writes there: the lock file, the
task hub, timer state, keys): made so when it is created, and made so again, with a warning,
when it is found readable by others.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

if sys.platform != "win32":
    import fcntl

LOCK_FILE = "devhost.lock"
FOLDER_MODE = 0o700
FILE_MODE = 0o600
# The holder writes its record right after it takes the lock; a host refused in between waits
# this long for it before saying it does not know the pid.
_RECORD_WAIT_SECONDS = 2.0

logger = logging.getLogger("Host.Startup")


class DataFolderInUse(Exception):
    """Another process holds the data folder; ``holder`` is its record (pid, url, app,
    started), as far as it could be read."""

    def __init__(self, folder: Path, holder: dict[str, Any]) -> None:
        self.folder = folder
        self.holder = holder
        pid = holder.get("pid", "unknown")
        where = f", serving {holder['url']}" if holder.get("url") else ""
        app = f", app {holder['app']}" if holder.get("app") else ""
        since = f", since {holder['started']}" if holder.get("started") else ""
        super().__init__(
            f"the data folder {folder} is in use by another host (pid {pid}{where}{app}{since}; "
            f"lock file {folder / LOCK_FILE}); stop that host first, or start this one with "
            "another --data-dir"
        )


class DataFolderLock:
    """The held lock on one data folder. ``acquire`` takes it, ``announce`` adds the URL to
    the record, ``release`` (or the end of the process) gives it up."""

    def __init__(self, folder: Path, descriptor: int | None, record: dict[str, Any]) -> None:
        self.folder = folder
        self._descriptor = descriptor
        self._record = record

    @classmethod
    def acquire(cls, folder: Path, app_folder: Path | None = None) -> DataFolderLock:
        """Lock ``folder`` (created owner-only if missing, made so if others could read it) for
        this process. Raises ``DataFolderInUse``
        naming the holder when another process has it, ``OSError`` when the folder cannot be
        written."""
        folder = folder.absolute()
        make_private_folder(folder)
        record: dict[str, Any] = {
            "pid": os.getpid(),
            "app": str(app_folder) if app_folder is not None else None,
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "url": None,
        }
        if sys.platform == "win32":  # no flock there; the host runs unguarded
            return cls(folder, None, record)
        path = folder / LOCK_FILE
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise DataFolderInUse(folder, holder) from None
        except BaseException:
            os.close(descriptor)
            raise
        make_private_file(path)
        lock = cls(folder, descriptor, record)
        lock._write()
        return lock

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def announce(self, url: str) -> None:
        """Add the URL this host serves to the record."""
        self._record["url"] = url
        self._write()

    def release(self) -> None:
        """Empty the record and give the lock up (idempotent)."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        try:
            os.ftruncate(descriptor, 0)
        finally:
            os.close(descriptor)  # closing the last descriptor drops the flock

    def _write(self) -> None:
        if self._descriptor is None:
            return
        # Written over the old record, then cut to length: a reader sees one whole record
        # first (json raw_decode ignores what follows it).
        data = (json.dumps(self._record) + "\n").encode()
        os.pwrite(self._descriptor, data, 0)
        os.ftruncate(self._descriptor, len(data))


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` owner-only (0700), or make it so, with a warning, when others could
    read it: it holds the task hub (every orchestration's inputs and outputs) and the host's
    keys. A folder shared on purpose (sticky or writable by all, as /tmp) is left as it is, with
    a warning: the host's files in it are private all the same. Raises OSError."""
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(folder.stat().st_mode)
    if not mode & 0o077:
        return
    if mode & (stat.S_ISVTX | stat.S_IWOTH):
        logger.warning(
            "the data folder %s is shared with other users (mode %03o); its files are private, "
            "but give the host a folder of its own (--data-dir)",
            folder,
            mode,
        )
        return
    os.chmod(folder, FOLDER_MODE)
    logger.warning(
        "%s could be read by other users (mode %03o); made it private (%03o)",
        folder,
        mode,
        FOLDER_MODE,
    )


def make_private_file(path: Path) -> None:
    """Make the existing file ``path`` owner-only (0600), with a warning, when others could
    read it; a missing file is left missing. Raises OSError."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, FILE_MODE)
        logger.warning(
            "%s could be read by other users (mode %03o); made it private (%03o)",
            path,
            mode,
            FILE_MODE,
        )


def _read_holder(descriptor: int) -> dict[str, Any]:
    deadline = time.monotonic() + _RECORD_WAIT_SECONDS
    while True:
        text = os.pread(descriptor, 4096, 0).decode("utf-8", errors="replace")
        try:
            record, _ = json.JSONDecoder().raw_decode(text)
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("pid"):
            return record
        if time.monotonic() > deadline:
            return {}
        time.sleep(0.05)  # the holder has the lock and is about to write its record
