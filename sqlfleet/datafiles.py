"""The files SQL Fleet keeps on this machine are its user's alone: 0600 in 0700 folders.

The data folder (``SQLFLEET_DATA_DIR``) holds the job database (credential ciphertexts, result
rows), the credential key that decrypts them, the host's keys and its log: whoever reads it holds
everything. So what SQL Fleet creates there is created private, and what it finds readable by
others (made by an older version, or copied in with a loose umask) is made private, with a
warning that says so. A SQLite database's ``-wal`` and ``-shm`` files take the mode of the
database file, so making the database file private is enough for them once SQLite makes them.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

logger = logging.getLogger("sqlfleet.datafiles")


def private_folder(folder: Path) -> None:
    """Create ``folder`` (and its missing parents) owner-only, or make it so. A folder shared
    on purpose (sticky or writable by all, as /tmp) is left as it is, with a warning: the files
    SQL Fleet makes in it are private all the same. Raises OSError."""
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077 and mode & (stat.S_ISVTX | stat.S_IWOTH):
        logger.warning(
            "the data folder %s is shared with other users (mode %03o); SQL Fleet's files in it "
            "are private, but give it a folder of its own (SQLFLEET_DATA_DIR)",
            folder,
            mode,
        )
        return
    _tighten(folder, FOLDER_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only when missing (never truncating it), or make it
    so. Raises OSError."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    _tighten(path, FILE_MODE)


def private_sqlite_database(database: Path) -> None:
    """``private_file`` for a SQLite database and the companion files it has now."""
    private_file(database)
    for suffix in SQLITE_COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            _tighten(companion, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        os.chmod(path, mode)
        logger.warning(
            "%s could be read by other users (mode %03o); made it private (%03o)",
            path,
            current,
            mode,
        )
