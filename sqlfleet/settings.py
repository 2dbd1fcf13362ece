"""App settings: read from the environment once, validated, errors name the setting.

| setting | default |
|---|---|
| SQLFLEET_DATA_DIR | ``./.sqlfleet`` |
| SQLFLEET_JOB_DATABASE_URL | ``sqlite:///<data dir>/jobs.db`` |
| SQLFLEET_CREDENTIAL_KEY | none (password credentials then cannot be created or used) |
| SQLFLEET_MAX_CONCURRENT_TARGETS | 100 (Elastic Jobs' JA100 tier) |
| SQLFLEET_HISTORY_RETENTION_DAYS | 45 |
| SQLFLEET_JOB_VERSIONS_KEPT | 10 (and every version an execution in the history ran) |
| SQLFLEET_LOCAL_SCRIPT_PROCESSES | the number of cores (0: SQLite scripts run in the host) |
| SQLFLEET_TARGET_ACTIVITY_SLOTS | 24 (of host.json's 32 activity slots; one execution takes 3/4) |
| SQLFLEET_SQLITE_ROOTS | none: no SQLite target anywhere (``os.pathsep``-separated folders) |
| SQLFLEET_ODBC_DRIVER_SQLSERVER | ``ODBC Driver 18 for SQL Server`` |
| SQLFLEET_ODBC_DRIVER_MYSQL | ``MariaDB Unicode`` |
| SQLFLEET_READ_ONLY_KEYS | none (every function key may act) |
| SQLFLEET_OVERDUE_RETRY_SECONDS | 10 (then a waiting target's retry lane is looked at) |
| SQLFLEET_PROMETHEUS_METRICS | off (``true``: Prometheus text at ``/api/metrics``) |

SQLite files are not reached through ODBC (``sqlfleet.sqlitefiles`` says why), nor PostgreSQL
targets (psycopg, ``sqlfleet.postgres`` says why), so there is no driver setting for them;
``SQLFLEET_ODBC_DRIVER_POSTGRESQL`` is no longer read.

One setting of the Python worker matters too: ``PYTHON_THREADPOOL_THREAD_COUNT``. Every plain
(non-async) Function runs in the worker's thread pool, which has ``min(32, cores + 4)`` threads
unless this setting says otherwise; SQL Fleet's activities hold a thread for as long as their
scripts run, so the pool must be as large as host.json lets activities and orchestrations run at
once. :func:`host_app_settings` is what every local launcher passes the host (and what
``local.settings.sample.json`` and the Azure deployment set).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlfleet.errors import SettingError

DATA_DIR = "SQLFLEET_DATA_DIR"
JOB_DATABASE_URL = "SQLFLEET_JOB_DATABASE_URL"
CREDENTIAL_KEY = "SQLFLEET_CREDENTIAL_KEY"
MAX_CONCURRENT_TARGETS = "SQLFLEET_MAX_CONCURRENT_TARGETS"
HISTORY_RETENTION_DAYS = "SQLFLEET_HISTORY_RETENTION_DAYS"
JOB_VERSIONS_KEPT = "SQLFLEET_JOB_VERSIONS_KEPT"
LOCAL_SCRIPT_PROCESSES = "SQLFLEET_LOCAL_SCRIPT_PROCESSES"
TARGET_ACTIVITY_SLOTS = "SQLFLEET_TARGET_ACTIVITY_SLOTS"
SQLITE_ROOTS = "SQLFLEET_SQLITE_ROOTS"
READ_ONLY_KEYS = "SQLFLEET_READ_ONLY_KEYS"
WATCH_POLL_MS = "SQLFLEET_WATCH_POLL_MS"
OVERDUE_RETRY_SECONDS = "SQLFLEET_OVERDUE_RETRY_SECONDS"
# Read by sqlfleet.telemetry (with APPLICATIONINSIGHTS_CONNECTION_STRING and the OTEL_* ones).
PROMETHEUS_METRICS = "SQLFLEET_PROMETHEUS_METRICS"
ODBC_DRIVER_SETTINGS = {
    "sqlserver": "SQLFLEET_ODBC_DRIVER_SQLSERVER",
    "mysql": "SQLFLEET_ODBC_DRIVER_MYSQL",
}

DEFAULT_DATA_DIR = ".sqlfleet"
DEFAULT_MAX_CONCURRENT_TARGETS = 100
DEFAULT_HISTORY_RETENTION_DAYS = 45
DEFAULT_JOB_VERSIONS_KEPT = 10
DEFAULT_LOCAL_SCRIPT_PROCESSES = os.cpu_count() or 1
# Activity slots that target attempts may hold at once in one host: three quarters of
# host.json's maxConcurrentActivityFunctions (32), the rest stays for bookkeeping activities.
DEFAULT_TARGET_ACTIVITY_SLOTS = 24
DEFAULT_ODBC_DRIVERS = {
    "sqlserver": "ODBC Driver 18 for SQL Server",
    "mysql": "MariaDB Unicode",
}
WORKER_THREADS = "PYTHON_THREADPOOL_THREAD_COUNT"
# host.json's maxConcurrentActivityFunctions (32) + maxConcurrentOrchestratorFunctions (16).
DEFAULT_WORKER_THREADS = 48
# Bounds that catch typos (an extra zero) without limiting real deployments.
MAX_CONCURRENT_TARGETS_LIMIT = 100_000
MAX_RETENTION_DAYS = 36_500
MAX_JOB_VERSIONS_KEPT = 1_000_000
MAX_LOCAL_SCRIPT_PROCESSES = 64
# How often a waiting long-poll re-reads the job database for changes made by another instance
# (those of its own process wake it at once, sqlfleet.changes).
DEFAULT_WATCH_POLL_MS = 500
MAX_WATCH_POLL_MS = 60_000
MAX_TARGET_ACTIVITY_SLOTS = 10_000
# A target still waiting this long past its retry time has its retry lane looked at (see
# sqlfleet.durable.reconciliation): lower finds a terminated lane sooner, higher asks the task
# hub less on a host whose timers fire late.
DEFAULT_OVERDUE_RETRY_SECONDS = 10
MAX_OVERDUE_RETRY_SECONDS = 86_400


@dataclass(frozen=True)
class Settings:
    """Validated settings. ``credential_key`` is secret: it is excluded from ``repr``."""

    data_dir: Path
    job_database_url: str
    credential_key: str | None = field(default=None, repr=False)
    max_concurrent_targets: int = DEFAULT_MAX_CONCURRENT_TARGETS
    history_retention_days: int = DEFAULT_HISTORY_RETENTION_DAYS
    # The newest versions of each job kept, besides those executions of the history ran.
    job_versions_kept: int = DEFAULT_JOB_VERSIONS_KEPT
    # Processes that run scripts on SQLite files of this host (sqlfleet.scriptprocesses).
    local_script_processes: int = DEFAULT_LOCAL_SCRIPT_PROCESSES
    # Activity slots target attempts share (activities.slots): one execution holds 3/4 at most.
    target_activity_slots: int = DEFAULT_TARGET_ACTIVITY_SLOTS
    odbc_drivers: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ODBC_DRIVERS))
    # Folders (absolute, symlinks resolved) under which SQLite targets may lie
    # (sqlfleet.sqlitefolders); none means no SQLite target at all.
    sqlite_roots: tuple[Path, ...] = ()
    # Function keys that may look but not act (sqlfleet.access); secret, so not in repr.
    read_only_keys: tuple[str, ...] = field(default=(), repr=False)
    watch_poll_ms: int = DEFAULT_WATCH_POLL_MS
    overdue_retry_seconds: int = DEFAULT_OVERDUE_RETRY_SECONDS

    def odbc_driver(self, engine: str) -> str | None:
        """The ODBC driver name configured for ``engine`` (sqlserver, mysql); None for sqlite
        and postgresql, which are not reached through ODBC."""
        return self.odbc_drivers.get(engine)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings from ``environ`` (default: ``os.environ``).

    Raises ``SettingError`` naming the first invalid setting.
    """
    env = os.environ if environ is None else environ
    data_dir = Path(_text(env, DATA_DIR) or DEFAULT_DATA_DIR).expanduser().absolute()
    url = _text(env, JOB_DATABASE_URL) or f"sqlite:///{(data_dir / 'jobs.db').as_posix()}"
    if "://" not in url:
        raise SettingError(
            JOB_DATABASE_URL,
            "expected a SQLAlchemy URL such as 'sqlite:///path/jobs.db' or "
            "'postgresql+psycopg://user@host/db'",
        )
    return Settings(
        data_dir=data_dir,
        sqlite_roots=_sqlite_roots(env, data_dir),
        job_database_url=url,
        credential_key=_text(env, CREDENTIAL_KEY) or None,
        max_concurrent_targets=_integer(
            env,
            MAX_CONCURRENT_TARGETS,
            DEFAULT_MAX_CONCURRENT_TARGETS,
            MAX_CONCURRENT_TARGETS_LIMIT,
        ),
        history_retention_days=_integer(
            env, HISTORY_RETENTION_DAYS, DEFAULT_HISTORY_RETENTION_DAYS, MAX_RETENTION_DAYS
        ),
        job_versions_kept=_integer(
            env, JOB_VERSIONS_KEPT, DEFAULT_JOB_VERSIONS_KEPT, MAX_JOB_VERSIONS_KEPT
        ),
        local_script_processes=_integer(
            env,
            LOCAL_SCRIPT_PROCESSES,
            DEFAULT_LOCAL_SCRIPT_PROCESSES,
            MAX_LOCAL_SCRIPT_PROCESSES,
            lowest=0,
        ),
        target_activity_slots=_integer(
            env, TARGET_ACTIVITY_SLOTS, DEFAULT_TARGET_ACTIVITY_SLOTS, MAX_TARGET_ACTIVITY_SLOTS
        ),
        odbc_drivers={
            engine: _text(env, name) or DEFAULT_ODBC_DRIVERS[engine]
            for engine, name in ODBC_DRIVER_SETTINGS.items()
        },
        read_only_keys=parse_read_only_keys(_text(env, READ_ONLY_KEYS)),
        watch_poll_ms=_integer(
            env, WATCH_POLL_MS, DEFAULT_WATCH_POLL_MS, MAX_WATCH_POLL_MS, lowest=50
        ),
        overdue_retry_seconds=_integer(
            env, OVERDUE_RETRY_SECONDS, DEFAULT_OVERDUE_RETRY_SECONDS, MAX_OVERDUE_RETRY_SECONDS
        ),
    )


def parse_read_only_keys(raw: str) -> tuple[str, ...]:
    """``SQLFLEET_READ_ONLY_KEYS``: keys separated by commas or white space, each the key
    itself or ``sha256:`` and the hex SHA-256 of it. Raises ``SettingError`` (never quoting a
    key)."""
    entries = tuple(entry for entry in raw.replace(",", " ").split() if entry)
    for position, entry in enumerate(entries, 1):
        if entry.lower().startswith("sha256:"):
            digest = entry[len("sha256:") :]
            if len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
                raise SettingError(
                    READ_ONLY_KEYS,
                    f"entry {position} starts with sha256: but is not followed by the 64 hex "
                    "digits of a SHA-256",
                )
        elif len(entry) < 16:
            raise SettingError(
                READ_ONLY_KEYS,
                f"entry {position} is shorter than 16 characters; a function key is longer",
            )
    return entries


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use and then cached."""
    return load_settings()


def reset_settings() -> None:
    """Forget the cached settings so that the next ``get_settings`` reads the environment again."""
    get_settings.cache_clear()


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _sqlite_roots(env: Mapping[str, str], data_dir: Path) -> tuple[Path, ...]:
    """The folders of SQLFLEET_SQLITE_ROOTS, absolute (against the working directory) and with
    symlinks and '..' resolved. A root that is the data folder or inside it is refused: the job
    database and the credential key live there."""
    roots: list[Path] = []
    data = data_dir.resolve()
    for text in _text(env, SQLITE_ROOTS).split(os.pathsep):
        if not text.strip():
            continue
        root = Path(text.strip()).expanduser().absolute().resolve()
        if root == data or data in root.parents:
            raise SettingError(
                SQLITE_ROOTS,
                f"'{text.strip()}' is the data folder ({DATA_DIR}, {data}) or inside it, which "
                "holds the job database and the credential key; SQLite targets may never lie "
                "there. Keep SQLite folders elsewhere",
            )
        if root not in roots:
            roots.append(root)
    return tuple(roots)


def _integer(
    env: Mapping[str, str], name: str, default: int, upper: int, *, lowest: int = 1
) -> int:
    raw = _text(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(name, f"expected a whole number, got {raw!r}") from None
    if not lowest <= value <= upper:
        raise SettingError(name, f"expected a number from {lowest} to {upper}, got {value}")
    return value


def host_app_settings() -> dict[str, str]:
    """App settings of the Functions host that SQL Fleet relies on, with their values."""
    return {WORKER_THREADS: str(DEFAULT_WORKER_THREADS)}
