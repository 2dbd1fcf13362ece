"""Fixtures of the foundation suite: the job store on SQLite and PostgreSQL, and an HTTP client
that calls the API blueprint's real Functions with real ``func.HttpRequest`` objects."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.durable_functions as df
import azure.functions as func
import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import sql

from api import bp
from sqlfleet.models import JobIn, TargetGroupIn, validate_document
from sqlfleet.runtime import use_job_store
from sqlfleet.settings import Settings, load_settings
from sqlfleet.store import SqlJobStore
from tests.support.clocks import Clock
from tests.support.servers import ServerAddress

BACKENDS = ["sqlite", "postgresql"]
SQLITE_FOLDERS = ("/var/lib/fleet", "/data")
# Children first, so that deleting never trips a foreign key.
TABLES = (
    "target_messages",
    "target_results",
    "job_executions",
    "job_steps",
    "job_versions",
    "jobs",
    "target_group_members",
    "target_groups",
    "credentials",
)


@dataclass
class PostgresDatabase:
    server: ServerAddress
    name: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.server.user}@{self.server.host}:{self.server.port}/{self.name}"

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.server.host,
            port=self.server.port,
            user=self.server.user,
            dbname=self.name,
            autocommit=True,
        )


def create_postgres_database(
    server: ServerAddress, prefix: str = "sqlfleet_foundation"
) -> PostgresDatabase:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host=server.host, port=server.port, user=server.user, dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return PostgresDatabase(server, name)


def drop_postgres_database(database: PostgresDatabase) -> None:
    with psycopg.connect(
        host=database.server.host,
        port=database.server.port,
        user=database.server.user,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database(postgres_server: ServerAddress) -> Iterator[PostgresDatabase]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    database = create_postgres_database(postgres_server)
    try:
        yield database
    finally:
        drop_postgres_database(database)


@pytest.fixture(scope="session")
def credential_key() -> str:
    return Fernet.generate_key().decode()


class StoresByBackend:
    """One store per backend for the whole session (migrations run once per backend)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
        self._tmp = tmp_path_factory
        self._request = request
        self._opened: dict[str, SqlJobStore] = {}

    def get(self, backend: str) -> SqlJobStore:
        if backend not in self._opened:
            if backend == "sqlite":
                path = self._tmp.mktemp("jobdb") / "jobs.db"
                self._opened[backend] = SqlJobStore(f"sqlite:///{path}")
            else:
                database: PostgresDatabase = self._request.getfixturevalue("postgres_database")
                self._opened[backend] = SqlJobStore(database.url)
        return self._opened[backend]

    def close(self) -> None:
        for store in self._opened.values():
            store.close()


@pytest.fixture(scope="session")
def _stores(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[StoresByBackend]:
    stores = StoresByBackend(tmp_path_factory, request)
    try:
        yield stores
    finally:
        stores.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, _stores: StoresByBackend, request: pytest.FixtureRequest) -> SqlJobStore:
    """The backend's job store, emptied for this test."""
    job_store = _stores.get(backend)
    empty_tables(job_store, backend, request)
    return job_store


def raw_connection(job_store: SqlJobStore, backend: str, request: pytest.FixtureRequest) -> Any:
    """A DB-API connection that bypasses the store (to inspect or empty its tables)."""
    if backend == "sqlite":
        return sqlite3.connect(job_store._db.url.database, timeout=30, isolation_level=None)
    database: PostgresDatabase = request.getfixturevalue("postgres_database")
    return database.connect()


def empty_tables(job_store: SqlJobStore, backend: str, request: pytest.FixtureRequest) -> None:
    connection = raw_connection(job_store, backend, request)
    try:
        if backend == "postgresql":
            # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE makes new files for
            # every table and index (a tenth of a second each time, a fifth of the suite).
            # Every foreign key to these tables cascades on delete, as TRUNCATE ... CASCADE did.
            with connection.transaction():
                for table in TABLES:
                    connection.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        else:
            for table in TABLES:
                connection.execute(f"DELETE FROM {table}")
    finally:
        connection.close()


# How many SQLite files ``sqlite_files`` makes.
SQLITE_FILES = 4


@pytest.fixture
def sqlite_files(store: SqlJobStore, credential_key: str, tmp_path: Any) -> Iterator[Any]:
    """``SQLITE_FILES`` empty SQLite files ``db0.db``... in ``tmp_path`` (yielded), the target
    group ``files`` of them, and the activities' job store and settings the test's."""
    for n in range(SQLITE_FILES):
        (tmp_path / f"db{n}.db").touch()
    settings = load_settings(
        {
            "SQLFLEET_CREDENTIAL_KEY": credential_key,
            "SQLFLEET_DATA_DIR": str(tmp_path / "data"),
            "SQLFLEET_SQLITE_ROOTS": str(tmp_path),
        }
    )
    member = {"target_type": "server", "engine": "sqlite", "server_name": str(tmp_path)}
    store.put_target_group("files", validate_document(TargetGroupIn, {"members": [member]}))
    use_job_store(store, settings)
    try:
        yield tmp_path
    finally:
        use_job_store(None)


@pytest.fixture
def settings(credential_key: str, tmp_path: Any) -> Settings:
    return load_settings(
        {
            "SQLFLEET_CREDENTIAL_KEY": credential_key,
            "SQLFLEET_DATA_DIR": str(tmp_path),
            # The SQLite folders the definition tests name (nothing is opened there).
            "SQLFLEET_SQLITE_ROOTS": os.pathsep.join(SQLITE_FOLDERS),
        }
    )


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


class ApiClient:
    """Dispatches requests to the blueprint's Functions by route template and method, as the
    Functions host does (route parameters URL-decoded, query string in ``params``)."""

    def __init__(self, routes: list[tuple[re.Pattern[str], str, Any]]) -> None:
        self._routes = routes

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Reply:
        parts = urlsplit(path)
        relative = parts.path.removeprefix("/api/")
        found = [
            (match, function)
            for pattern, verb, function in self._routes
            if verb == method and (match := pattern.match(relative))
        ]
        assert len(found) == 1, f"{len(found)} functions for {method} {path}"
        match, function = found[0]
        payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        request = func.HttpRequest(
            method=method,
            url=f"http://localhost{path}",
            headers={"Content-Type": "application/json"},
            params=dict(parse_qsl(parts.query)),
            route_params={k: unquote(v) for k, v in match.groupdict().items()},
            body=payload,
        )
        handler = getattr(function, "client_function", None)
        if handler is not None:
            # A Function that takes the durable client (api.blueprint.client_operation) runs
            # here without a task hub.
            response = asyncio.run(handler(request, client=None))
        else:
            response = function(request)
            if asyncio.iscoroutine(response):  # an async handler (the long-polls)
                response = asyncio.run(response)
        text = response.get_body().decode()
        return Reply(
            status=response.status_code,
            body=json.loads(text) if text else None,
            headers=dict(response.headers),
            text=text,
        )

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def put(self, path: str, body: Any = None, raw: bytes | None = None) -> Reply:
        return self.request("PUT", path, body, raw)

    def post(self, path: str, body: Any = None, raw: bytes | None = None) -> Reply:
        return self.request("POST", path, body, raw)

    def patch(self, path: str, body: Any = None) -> Reply:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Reply:
        return self.request("DELETE", path)


@pytest.fixture(scope="session")
def _routes() -> list[tuple[re.Pattern[str], str, Any]]:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(bp)
    routes = []
    for function in app.get_functions():
        trigger = function.get_trigger()
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", trigger.route)
        for method in trigger.methods:
            routes.append((re.compile(f"^{pattern}$"), method.value, function.get_user_function()))
    return routes


@pytest.fixture
def api(store: SqlJobStore, settings: Settings, _routes: Any) -> Iterator[ApiClient]:
    use_job_store(store, settings)
    try:
        yield ApiClient(_routes)
    finally:
        use_job_store(None)


@pytest.fixture
def clock(store: SqlJobStore, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The store's clock, replaced by a fake one (one second a reading)."""
    fake = Clock()
    monkeypatch.setattr(store, "_clock", fake)
    return fake


@pytest.fixture
def job(store: SqlJobStore, clock: Clock) -> str:
    """Job ``j``: one step on group ``g`` (one database), up to 2 retries."""
    member = {"target_type": "database", "server_name": "s", "database_name": "d"}
    store.put_target_group("g", validate_document(TargetGroupIn, {"members": [member]}))
    step = {"command": "SELECT 1", "target_group_name": "g", "retry_attempts": 2}
    store.put_job("j", validate_document(JobIn, {"steps": [step]}))
    return "j"
