"""The job store and settings of this process, created lazily and cached.

The API handlers and the activities share them.

Tests and hosts may replace them with ``use_job_store`` (a store on another URL, a fake clock).
"""

from __future__ import annotations

import threading

from sqlfleet.datafiles import private_folder, private_sqlite_database
from sqlfleet.errors import SettingError
from sqlfleet.settings import Settings, get_settings
from sqlfleet.sqlitefolders import SqliteFolders
from sqlfleet.store import JobStore, open_job_store
from sqlfleet.store.hostlock import JobDatabaseLock, sqlite_database_path
from sqlfleet.store.integrity import check_sqlite_database

_lock = threading.Lock()
_store: JobStore | None = None
_settings: Settings | None = None
_claim: JobDatabaseLock | None = None


def settings() -> Settings:
    """The settings in use (from the environment unless ``use_job_store`` gave others)."""
    return _settings or get_settings()


_folders: tuple[Settings, SqliteFolders] | None = None


def sqlite_folders() -> SqliteFolders:
    """Where SQLite targets may lie on this host (``SQLFLEET_SQLITE_ROOTS``): worked out once
    per settings (resolving the folders costs file system calls on every target)."""
    global _folders
    current = settings()
    cached = _folders
    if cached is None or cached[0] is not current:
        cached = (current, SqliteFolders.from_settings(current))
        _folders = cached
    return cached[1]


def job_store() -> JobStore:
    """The job store at ``SQLFLEET_JOB_DATABASE_URL``, opened (and migrated) on first use.

    Raises ``SettingError`` when the settings are unusable; the next call tries again.
    """
    global _store
    if _store is None:
        with _lock:
            if _store is None:
                _store = open_job_store(settings())
    return _store


def use_job_store(store: JobStore | None, settings: Settings | None = None) -> None:
    """Make handlers use ``store`` and ``settings``; ``None`` goes back to lazy defaults.

    The store replaced is not closed: whoever created it owns it.
    """
    global _store, _settings
    with _lock:
        _store = store
        _settings = settings


def claim_job_database() -> None:
    """Make a SQLite job database this process's alone until it ends (``sqlfleet.store.
    hostlock``); the app calls it when the host loads it. A server job database is shared by
    the instances of the app, as on Azure, and needs no claim.

    The database (with its lock, ``-wal`` and ``-shm`` files) is made private to this user,
    and so is the data folder when it holds the database (``sqlfleet.datafiles``). Then the
    file is checked to be a sound SQLite database, so that a damaged one stops the host with
    one line naming it instead of a host that answers 500.

    Raises ``JobDatabaseInUse`` naming the process that holds it, ``JobDatabaseCorrupt``
    naming the file. Unusable settings are left to the first use of the store, which names the
    setting."""
    global _claim
    try:
        current = settings()
        database = sqlite_database_path(current.job_database_url)
    except SettingError:
        return
    with _lock:
        if database is None or (_claim is not None and _claim.database == database):
            return
        if database.parent.resolve() == current.data_dir.resolve():
            private_folder(current.data_dir)
        claim = JobDatabaseLock.acquire(database)
        try:
            private_sqlite_database(database)
            check_sqlite_database(database)
        except BaseException:
            claim.release()
            raise
        if _claim is not None:
            _claim.release()
        _claim = claim
