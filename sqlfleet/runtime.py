"""The job store and settings of this process, created lazily and cached.

The API handlers and the activities share them.

Tests and hosts may replace them with ``use_job_store`` (a store on another URL, a fake clock).
"""

from __future__ import annotations

import threading

from sqlfleet.settings import Settings, get_settings
from sqlfleet.sqlitefolders import SqliteFolders
from sqlfleet.store import JobStore, open_job_store

_lock = threading.Lock()
_store: JobStore | None = None
_settings: Settings | None = None


def settings() -> Settings:
    """The settings in use (from the environment unless ``use_job_store`` gave others)."""
    return _settings or get_settings()


def sqlite_folders() -> SqliteFolders:
    """Where SQLite targets may lie on this host (``SQLFLEET_SQLITE_ROOTS``)."""
    return SqliteFolders.from_settings(settings())


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
