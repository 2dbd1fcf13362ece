"""Fixtures shared by every suite: real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.servers import (  # noqa: E402
    PrivatePostgres,
    ServerAddress,
    answers,
    start_private_postgres,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ServerAddress]:
    """The machine's PostgreSQL (trust auth) or a private one started for this session."""
    host, port = (
        os.environ.get("SQLFLEET_TEST_PG_HOST", "127.0.0.1"),
        int(os.environ.get("SQLFLEET_TEST_PG_PORT", "5432")),
    )
    if answers(host, port):
        yield ServerAddress(host, port, os.environ.get("SQLFLEET_TEST_PG_USER", "postgres"))
        return
    private: PrivatePostgres | None = None
    try:
        private = start_private_postgres()
    except Exception as error:  # noqa: BLE001
        pytest.skip(
            f"no PostgreSQL server answers on {host}:{port} and none could be started: {error}"
        )
    try:
        yield private.address
    finally:
        private.destroy()


@pytest.fixture(scope="session")
def mariadb_server() -> ServerAddress:
    host, port = "127.0.0.1", int(os.environ.get("SQLFLEET_TEST_MARIADB_PORT", "3306"))
    if not answers(host, port):
        pytest.skip(f"no MariaDB server answers on {host}:{port}")
    return ServerAddress(host, port, os.environ.get("SQLFLEET_TEST_MARIADB_USER", "root"))
