"""The private PostgreSQL the fault suites rely on starts, answers SQL, stops and restarts."""

import pyodbc

from tests.support.servers import answers, start_private_postgres


def _select_one(port: int, user: str) -> int:
    connection = pyodbc.connect(
        f"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={port};Database=postgres;Uid={user};",
        timeout=5,
    )
    try:
        return connection.cursor().execute("SELECT 41 + 1").fetchone()[0]
    finally:
        connection.close()


def test_private_postgres_starts_stops_and_restarts() -> None:
    server = start_private_postgres()
    try:
        assert _select_one(server.port, server.user) == 42
        server.stop()
        assert not answers("127.0.0.1", server.port)
        server.start()
        assert _select_one(server.port, server.user) == 42
    finally:
        server.destroy()
    assert not server.data_dir.exists()
