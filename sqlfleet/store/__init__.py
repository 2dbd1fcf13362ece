"""The job database: ``JobStore`` (interface) and ``SqlJobStore`` (SQLAlchemy Core 2).

``SqlJobStore(url)`` works on any SQLAlchemy URL; it is tested on SQLite (file and ``:memory:``)
and PostgreSQL, and its schema compiles for SQL Server. Opening it migrates the schema to the
newest revision (Alembic, ``sqlfleet/migrations``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.engine.url import URL

from sqlfleet.models import utc_now
from sqlfleet.settings import DEFAULT_JOB_VERSIONS_KEPT, Settings
from sqlfleet.store.attempts import AttemptStart, StartOutcome, TargetAttemptStore
from sqlfleet.store.chunks import AttemptEnd, ChunkTurn, TargetChunkStore
from sqlfleet.store.database import Database
from sqlfleet.store.definitions import CredentialStore, TargetGroupStore
from sqlfleet.store.endings import EndingStore, FinishedStep
from sqlfleet.store.executions import ExecutionStore
from sqlfleet.store.history import HistoryStore
from sqlfleet.store.jobs import JobDefinitionStore
from sqlfleet.store.migrate import upgrade
from sqlfleet.store.monitoring import MonitoringStore
from sqlfleet.store.notifications import NotificationStore
from sqlfleet.store.pages import TargetPageStore
from sqlfleet.store.protocol import JobStore, StepRef
from sqlfleet.store.receiving import ExecutionSummary, ReceiveStore
from sqlfleet.store.reruns import RerunStore

__all__ = [
    "AttemptEnd",
    "AttemptStart",
    "ChunkTurn",
    "ExecutionSummary",
    "FinishedStep",
    "JobStore",
    "SqlJobStore",
    "StartOutcome",
    "StepRef",
    "open_job_store",
]


class SqlJobStore(
    CredentialStore,
    TargetGroupStore,
    JobDefinitionStore,
    ExecutionStore,
    EndingStore,
    TargetAttemptStore,
    TargetChunkStore,
    HistoryStore,
    MonitoringStore,
    RerunStore,
    TargetPageStore,
    NotificationStore,
    ReceiveStore,
):
    """The job store on a SQL database. ``clock`` (UTC-aware) stamps every time it writes;
    each job keeps its newest ``job_versions_kept`` versions and those executions ran.

    Raises ``SettingError`` for an unusable URL and ``JobDatabaseUnavailable`` when the
    database cannot be reached while migrating.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        migrate: bool = True,
        job_versions_kept: int = DEFAULT_JOB_VERSIONS_KEPT,
    ) -> None:
        self._db = Database(url)
        self._clock = clock
        self._versions_kept = job_versions_kept
        if migrate:
            try:
                upgrade(self._db)
            except BaseException:
                self._db.dispose()
                raise

    def now(self) -> dt.datetime:
        """The store's clock (UTC-aware): the time it stamps on what it writes."""
        return self._clock()

    @property
    def dialect_name(self) -> str:
        """``sqlite``, ``postgresql``, ``mssql``, ..."""
        return self._db.dialect_name

    def close(self) -> None:
        """Release the connections."""
        self._db.dispose()

    def __repr__(self) -> str:
        return f"SqlJobStore({self._db.url.render_as_string(hide_password=True)!r})"


def open_job_store(
    settings: Settings, *, clock: Callable[[], dt.datetime] = utc_now
) -> SqlJobStore:
    """The store at ``SQLFLEET_JOB_DATABASE_URL``, migrated, after the startup checks (a
    stored password credential needs ``SQLFLEET_CREDENTIAL_KEY``). Raises ``SettingError``."""
    from sqlfleet.credentials import check_credential_key

    store = SqlJobStore(
        settings.job_database_url, clock=clock, job_versions_kept=settings.job_versions_kept
    )
    try:
        check_credential_key(settings, store)
    except BaseException:
        store.close()
        raise
    return store
