"""The job store and settings of this process, created lazily and cached.

The API handlers and the activities share them.

Tests and hosts may replace them with ``use_job_store`` (a store on another URL, a fake clock).
"""

from __future__ import annotations

import threading

from sqlfleet.errors import SettingError
from sqlfleet.settings import Settings, get_settings
from sqlfleet.sqlitefolders import SqliteFolders
from sqlfleet.store import JobStore, open_job_store
from sqlfleet.store.hostlock import JobDatabaseLock, sqlite_database_path

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

    Raises ``JobDatabaseInUse`` naming the process that holds it. Unusable settings are left
    to the first use of the store, which names the setting."""
    global _claim
    try:
        database = sqlite_database_path(settings().job_database_url)
    except SettingError:
        return
    with _lock:
        if database is None or (_claim is not None and _claim.database == database):
            return
        claim = JobDatabaseLock.acquire(database)
        if _claim is not None:
            _claim.release()
        _claim = claim
