"""Fixtures of the job execution suite: one SQL Fleet host per session (a real ``python -m
devhost`` subprocess), PostgreSQL, a private PostgreSQL cluster and MariaDB with a login that
uses the session's secret password, and the password credentials that point at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cryptography.fernet import Fernet

from tests.jobs.fleet import SECRET, MariaDbFleet, PostgresFleet, unique
from tests.jobs.host import JobsHost
from tests.support.servers import ServerAddress, start_private_postgres

PG_CREDENTIAL = "pg-login"
PRIVATE_PG_CREDENTIAL = "private-pg-login"
MARIADB_CREDENTIAL = "mariadb-login"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The secrets scan reads what every other test left behind, so it runs last.
    last = [item for item in items if item.module.__name__.endswith("test_secrets_scan")]
    if last:
        items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def jobs_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsHost]:
    folder = tmp_path_factory.mktemp("jobs-host")
    env = {
        "SQLFLEET_DATA_DIR": str(folder / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
        # Tests make their SQLite folders in their own tmp_path: all under the session's base.
        "SQLFLEET_SQLITE_ROOTS": str(tmp_path_factory.getbasetemp()),
        # Long-polls re-read only once a minute on their own: every answer before that proves
        # the job store's commit woke them (sqlfleet.changes).
        "SQLFLEET_WATCH_POLL_MS": "60000",
    }
    host = JobsHost.start(folder, env)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="session")
def pg(postgres_server: ServerAddress, jobs_host: JobsHost) -> Iterator[PostgresFleet]:
    """The shared PostgreSQL server with this session's login and credential."""
    fleet = PostgresFleet(postgres_server, unique("fleet_login"))
    fleet.create_role()
    jobs_host.ok(
        "PUT",
        f"/api/credentials/{PG_CREDENTIAL}",
        {"kind": "password", "username": fleet.role, "password": SECRET},
    )
    try:
        yield fleet
    finally:
        fleet.drop_all()
        fleet.drop_role()


@pytest.fixture(scope="session")
def private_pg(jobs_host: JobsHost) -> Iterator[PostgresFleet]:
    """A PostgreSQL cluster of this session alone: a server member there hits only databases
    the suite made."""
    try:
        cluster = start_private_postgres()
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"cannot start a private PostgreSQL cluster: {error}")
    fleet = PostgresFleet(cluster.address, unique("fleet_login"))
    try:
        fleet.create_role()
        jobs_host.ok(
            "PUT",
            f"/api/credentials/{PRIVATE_PG_CREDENTIAL}",
            {"kind": "password", "username": fleet.role, "password": SECRET},
        )
        yield fleet
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def mariadb(mariadb_server: ServerAddress, jobs_host: JobsHost) -> Iterator[MariaDbFleet]:
    fleet = MariaDbFleet(mariadb_server, unique("fleet_login"))
    fleet.create_user()
    jobs_host.ok(
        "PUT",
        f"/api/credentials/{MARIADB_CREDENTIAL}",
        {"kind": "password", "username": fleet.user, "password": SECRET},
    )
    try:
        yield fleet
    finally:
        fleet.drop_all()
        fleet.drop_user()


@pytest.fixture
def pg_database(pg: PostgresFleet) -> Iterator[Callable[[str], str]]:
    """Makes uniquely named databases on the shared server (owned by the login); each is
    dropped after the test."""
    made: list[str] = []

    def create(prefix: str = "fleet") -> str:
        made.append(pg.create_database(unique(prefix)))
        return made[-1]

    yield create
    for name in made:
        pg.drop_database(name)
