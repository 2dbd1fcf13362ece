"""Fixtures of the reliability suites (crash and fault): SQL Fleet hosts that may be killed,
private PostgreSQL clusters that may be stopped, and the watch that the secrets scan
(``test_leaks.py``, always run last) reads when the suites are done.

Run: ``.venv/bin/pytest tests/reliability -m reliability`` (skip with ``-m "not reliability"``).
Sizes scale down for a short CI run through environment variables:
``SQLFLEET_RELIABILITY_CRASH_TARGETS`` (1000), ``SQLFLEET_RELIABILITY_CRASH_KILLS`` (20),
``SQLFLEET_RELIABILITY_SEED`` (random, printed), ``SQLFLEET_RELIABILITY_PG_TARGETS`` (8),
``SQLFLEET_RELIABILITY_OUTAGE_SECONDS`` (10).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.reliability.clusters import PasswordCluster
from tests.reliability.host import FleetHost
from tests.reliability.leaks import JOB_DATABASE, SERVER_FILES, LeakWatch

HostFactory = Callable[..., FleetHost]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The secrets scan reads what every other reliability test left behind.
    last = [item for item in items if item.module.__name__.endswith("reliability.test_leaks")]
    if last:
        items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def leak_watch() -> LeakWatch:
    return LeakWatch()


def new_password(watch: LeakWatch, what: str) -> str:
    """A fresh password that the secrets scan will look for everywhere."""
    return watch.secret(f"Rel-Pw-{uuid.uuid4().hex}", what)


@pytest.fixture(scope="session")
def credential_key(leak_watch: LeakWatch) -> str:
    return leak_watch.secret(Fernet.generate_key().decode(), "SQLFLEET_CREDENTIAL_KEY")


@pytest.fixture
def fleet_host(
    tmp_path_factory: pytest.TempPathFactory, credential_key: str, leak_watch: LeakWatch
) -> Iterator[HostFactory]:
    """Starts SQL Fleet hosts (each with its own folder) that the secrets scan will read;
    stops them after the test."""
    started: list[FleetHost] = []

    def start(name: str = "host", **env: str) -> FleetHost:
        root: Path = tmp_path_factory.mktemp(name)
        # Tests make their SQLite folders in their own tmp_path: all under the session's base.
        roots = str(tmp_path_factory.getbasetemp())
        host = FleetHost.start_fleet(
            root,
            {"SQLFLEET_CREDENTIAL_KEY": credential_key, "SQLFLEET_SQLITE_ROOTS": roots, **env},
        )
        started.append(host)
        leak_watch.host(host)
        return host

    yield start
    for host in started:
        host.stop()


@pytest.fixture(scope="session")
def shared_host(
    tmp_path_factory: pytest.TempPathFactory, credential_key: str, leak_watch: LeakWatch
) -> Iterator[FleetHost]:
    """One SQL Fleet host with the default settings for the tests that neither kill it nor
    change its settings (each names what it makes uniquely); the secrets scan reads it too.
    A host start is seconds: one per test that needs no host of its own adds up."""
    root = tmp_path_factory.mktemp("shared-host")
    roots = str(tmp_path_factory.getbasetemp())
    host = FleetHost.start_fleet(
        root, {"SQLFLEET_CREDENTIAL_KEY": credential_key, "SQLFLEET_SQLITE_ROOTS": roots}
    )
    leak_watch.host(host)
    try:
        yield host
    finally:
        host.stop()


def _cluster(leak_watch: LeakWatch, kind: str) -> Iterator[PasswordCluster]:
    try:
        cluster = PasswordCluster.create()
    except RuntimeError as error:  # no PostgreSQL server binaries on this machine
        pytest.skip(f"cannot start a private PostgreSQL cluster: {error}")
    leak_watch.path(SERVER_FILES, cluster.log_path)
    leak_watch.path(kind, cluster.data_dir)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def target_cluster(leak_watch: LeakWatch) -> Iterator[PasswordCluster]:
    """A private cluster of target databases (the fault suite stops it)."""
    yield from _cluster(leak_watch, SERVER_FILES)


@pytest.fixture(scope="session")
def job_cluster(leak_watch: LeakWatch) -> Iterator[PasswordCluster]:
    """A private cluster that holds a job database (the fault suite stops it)."""
    yield from _cluster(leak_watch, JOB_DATABASE)
