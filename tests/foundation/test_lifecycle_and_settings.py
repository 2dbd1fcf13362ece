"""The lifecycle transition table and rollup rules; settings and their errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sqlfleet.errors import IllegalTransition, SettingError
from sqlfleet.lifecycle import ACTIVE, TERMINAL, TRANSITIONS, Lifecycle, check_transition, rollup
from sqlfleet.settings import host_app_settings, load_settings

L = Lifecycle


def test_lifecycle_values_are_elastic_jobs_spelling() -> None:
    assert [state.value for state in L] == [
        "Created",
        "InProgress",
        "WaitingForChildJobExecutions",
        "WaitingForRetry",
        "Succeeded",
        "SucceededWithSkipped",
        "Failed",
        "TimedOut",
        "Canceled",
        "Skipped",
    ]
    assert set(L) == TERMINAL | ACTIVE and not TERMINAL & ACTIVE
    assert set(TRANSITIONS) == set(L)


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (L.CREATED, L.IN_PROGRESS),
        (L.IN_PROGRESS, L.WAITING_FOR_RETRY),
        (L.WAITING_FOR_RETRY, L.IN_PROGRESS),
        (L.IN_PROGRESS, L.IN_PROGRESS),
        (L.IN_PROGRESS, L.WAITING_FOR_CHILD_JOB_EXECUTIONS),
        (L.WAITING_FOR_CHILD_JOB_EXECUTIONS, L.SUCCEEDED_WITH_SKIPPED),
        (L.CREATED, L.SKIPPED),
        (L.WAITING_FOR_RETRY, L.CANCELED),
        (L.IN_PROGRESS, L.TIMED_OUT),
    ],
)
def test_allowed_transitions(current: Lifecycle, requested: Lifecycle) -> None:
    assert check_transition(current, requested) is True


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (L.SUCCEEDED, L.IN_PROGRESS),
        (L.CANCELED, L.FAILED),
        (L.FAILED, L.CREATED),
        (L.IN_PROGRESS, L.CREATED),
        (L.WAITING_FOR_RETRY, L.SUCCEEDED),
        (L.CREATED, L.WAITING_FOR_RETRY),
        (L.IN_PROGRESS, L.SKIPPED),
    ],
)
def test_illegal_transitions(current: Lifecycle, requested: Lifecycle) -> None:
    with pytest.raises(IllegalTransition) as raised:
        check_transition(current, requested, kind="target execution", name="x")
    assert raised.value.code == "IllegalTransition"
    assert f"cannot go from {current.value} to {requested.value}" in raised.value.message


def test_repeating_a_terminal_state_is_a_no_op() -> None:
    for state in TERMINAL:
        assert check_transition(state, state) is False


@pytest.mark.parametrize(
    ("children", "outcome"),
    [
        ([], L.SUCCEEDED),
        ([L.SUCCEEDED, L.SUCCEEDED], L.SUCCEEDED),
        ([L.SUCCEEDED, L.SKIPPED], L.SUCCEEDED_WITH_SKIPPED),
        ([L.SKIPPED], L.SUCCEEDED_WITH_SKIPPED),
        ([L.SUCCEEDED_WITH_SKIPPED, L.SUCCEEDED], L.SUCCEEDED_WITH_SKIPPED),
        ([L.SUCCEEDED, L.TIMED_OUT, L.SKIPPED], L.TIMED_OUT),
        ([L.TIMED_OUT, L.FAILED], L.FAILED),
        ([L.FAILED, L.CANCELED, L.SUCCEEDED], L.CANCELED),
    ],
)
def test_rollup(children: list[Lifecycle], outcome: Lifecycle) -> None:
    assert rollup(children) == outcome


def test_rollup_refuses_active_children() -> None:
    with pytest.raises(ValueError, match="WaitingForRetry"):
        rollup([L.SUCCEEDED, L.WAITING_FOR_RETRY])


def test_settings_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.data_dir == tmp_path / ".sqlfleet"
    assert settings.job_database_url == f"sqlite:///{tmp_path}/.sqlfleet/jobs.db"
    assert settings.credential_key is None
    assert (settings.max_concurrent_targets, settings.history_retention_days) == (100, 45)
    assert settings.odbc_driver("sqlserver") == "ODBC Driver 18 for SQL Server"
    assert settings.odbc_driver("postgresql") is None  # psycopg (libpq), not ODBC
    assert settings.odbc_driver("mysql") == "MariaDB Unicode"
    assert settings.odbc_driver("sqlite") is None  # SQLite files are not reached through ODBC
    assert settings.sqlite_roots == ()
    assert settings.overdue_retry_seconds == 10


def test_settings_from_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SQLFLEET_DATA_DIR": str(tmp_path),
            "SQLFLEET_JOB_DATABASE_URL": "postgresql://u@h/db",
            "SQLFLEET_CREDENTIAL_KEY": "k",
            "SQLFLEET_MAX_CONCURRENT_TARGETS": "800",
            "SQLFLEET_HISTORY_RETENTION_DAYS": "7",
            "SQLFLEET_LOCAL_SCRIPT_PROCESSES": "0",
            "SQLFLEET_TARGET_ACTIVITY_SLOTS": "8",
            "SQLFLEET_OVERDUE_RETRY_SECONDS": "2",
            "SQLFLEET_ODBC_DRIVER_SQLSERVER": "ODBC Driver 17 for SQL Server",
        }
    )
    assert settings.job_database_url == "postgresql://u@h/db"
    assert (settings.max_concurrent_targets, settings.history_retention_days) == (800, 7)
    assert settings.local_script_processes == 0
    assert settings.target_activity_slots == 8
    assert settings.overdue_retry_seconds == 2
    assert settings.odbc_driver("sqlserver") == "ODBC Driver 17 for SQL Server"
    assert "credential_key" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SQLFLEET_MAX_CONCURRENT_TARGETS", "lots"),
        ("SQLFLEET_MAX_CONCURRENT_TARGETS", "0"),
        ("SQLFLEET_HISTORY_RETENTION_DAYS", "-1"),
        ("SQLFLEET_HISTORY_RETENTION_DAYS", "99999999"),
        ("SQLFLEET_LOCAL_SCRIPT_PROCESSES", "-1"),
        ("SQLFLEET_LOCAL_SCRIPT_PROCESSES", "some"),
        ("SQLFLEET_TARGET_ACTIVITY_SLOTS", "0"),
        ("SQLFLEET_OVERDUE_RETRY_SECONDS", "0"),
        ("SQLFLEET_OVERDUE_RETRY_SECONDS", "1.5"),
        ("SQLFLEET_JOB_DATABASE_URL", "jobs.db"),
    ],
)
def test_bad_settings_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingError) as raised:
        load_settings({name: value})
    assert raised.value.setting == name and name in raised.value.message


def test_sqlite_roots_are_absolute_resolved_folders_outside_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    data = {"SQLFLEET_DATA_DIR": str(tmp_path / "data")}
    roots = os.pathsep.join(["link", "", f"{tmp_path}/a/../b", str(tmp_path / "real")])
    settings = load_settings({**data, "SQLFLEET_SQLITE_ROOTS": roots})
    assert settings.sqlite_roots == (tmp_path / "real", tmp_path / "b")
    for inside in (str(tmp_path / "data"), str(tmp_path / "data" / "x"), "data/../data"):
        with pytest.raises(SettingError) as raised:
            load_settings({**data, "SQLFLEET_SQLITE_ROOTS": inside})
        assert raised.value.setting == "SQLFLEET_SQLITE_ROOTS"
        assert "data folder (SQLFLEET_DATA_DIR" in raised.value.message


def test_worker_threads_cover_everything_host_json_runs_at_once() -> None:
    # Plain Functions run in the Python worker's thread pool: fewer threads than host.json lets
    # activities and orchestrations run would silently cap a step's parallelism.
    root = Path(__file__).resolve().parents[2]
    durable = json.loads((root / "host.json").read_text())["extensions"]["durableTask"]
    wanted = (
        durable["maxConcurrentActivityFunctions"] + durable["maxConcurrentOrchestratorFunctions"]
    )
    assert host_app_settings() == {"PYTHON_THREADPOOL_THREAD_COUNT": str(wanted)}
    sample = json.loads((root / "local.settings.sample.json").read_text())["Values"]
    assert sample["PYTHON_THREADPOOL_THREAD_COUNT"] == str(wanted)
