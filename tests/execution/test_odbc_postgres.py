"""sqlfleet.odbc against a real PostgreSQL (through psycopg, sqlfleet.postgres)."""

from __future__ import annotations

import json
import socket
import struct
import threading
import uuid
from types import SimpleNamespace

import psycopg
import pytest
from psycopg import sql

from sqlfleet.dialects import OutputTable
from sqlfleet.odbc import TargetError, list_databases, run_script, write_output
from sqlfleet.signin import ConnectionAuth
from sqlfleet.targets import Target
from tests.support.servers import free_port, wait_until

pytestmark = pytest.mark.postgres


def admin(server, dbname="postgres"):
    return psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password or None,
        dbname=dbname,
        autocommit=True,
    )


@pytest.fixture
def databases(postgres_server):
    suffix = uuid.uuid4().hex[:10]
    names = [f"sqlfleet_exec_{suffix}_a", f"sqlfleet_exec_{suffix}_b"]
    with admin(postgres_server) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield names
    with admin(postgres_server) as conn:
        for name in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def auth(postgres_server):
    return ConnectionAuth(user=postgres_server.user, password=postgres_server.password or None)


def target(server, database):
    return Target("postgresql", server.host, server.port, database)


def test_list_databases_of_a_server(postgres_server, databases, auth):
    member = SimpleNamespace(
        target_type="server",
        engine="postgresql",
        server_name=postgres_server.host,
        port=postgres_server.port,
        elastic_pool_name=None,
    )
    found = list_databases(member, auth)
    assert set(databases) <= set(found)
    assert not {"postgres", "template0", "template1"} & set(found)
    assert found == sorted(found)


def test_script_keeps_first_result_set_bounded_and_notices(postgres_server, databases, auth):
    script = """
DO $$BEGIN RAISE NOTICE 'hello from $(target_database_name)'; END$$;
CREATE TABLE t (n int);
INSERT INTO t SELECT generate_series(1, 4);
SELECT n, n * 1.5::numeric(6,2) AS half, 'row ' || n AS label,
       TIMESTAMP '2024-01-02 03:04:05.25' AS at, '\\x00ff'::bytea AS raw, n > 2 AS big,
       DATE '2024-02-29' AS day, '6f1c3bde-49a8-4b37-9d4e-0a2a9f4e8a11'::uuid AS ref
FROM t ORDER BY n;
SELECT 'second result set';
"""
    outcome = run_script(
        target(postgres_server, databases[0]),
        auth,
        script,
        timeout_seconds=30,
        max_rows=3,
        variables={"target_database_name": databases[0]},
    )
    assert outcome.error is None, outcome.error
    assert outcome.succeeded and not outcome.timed_out
    assert [c.name for c in outcome.columns] == [
        "n", "half", "label", "at", "raw", "big", "day", "ref",
    ]  # fmt: skip
    assert [c.kind for c in outcome.columns] == [
        "integer", "decimal", "text", "datetime", "binary", "boolean", "date", "text",
    ]  # fmt: skip
    assert outcome.rows == [
        [1, "1.50", "row 1", "2024-01-02T03:04:05.250000", "0x00FF", False, "2024-02-29",
         "6F1C3BDE-49A8-4B37-9D4E-0A2A9F4E8A11"],
        [2, "3.00", "row 2", "2024-01-02T03:04:05.250000", "0x00FF", False, "2024-02-29",
         "6F1C3BDE-49A8-4B37-9D4E-0A2A9F4E8A11"],
        [3, "4.50", "row 3", "2024-01-02T03:04:05.250000", "0x00FF", True, "2024-02-29",
         "6F1C3BDE-49A8-4B37-9D4E-0A2A9F4E8A11"],
    ]  # fmt: skip
    assert outcome.truncated is True
    assert any(f"NOTICE: hello from {databases[0]}" in m for m in outcome.messages)
    assert outcome.rowcount == 4
    json.dumps(outcome.to_json(), allow_nan=False)


def test_error_carries_the_driver_message(postgres_server, databases, auth):
    outcome = run_script(
        target(postgres_server, databases[0]),
        auth,
        "SELECT 1 / 0",
        timeout_seconds=30,
        max_rows=10,
    )
    assert not outcome.succeeded
    assert "division by zero" in outcome.error
    assert outcome.sqlstate == "22012"
    assert "SQLExecDirect" not in outcome.error


def test_timeout_cancels_the_backend_query(postgres_server, databases, auth):
    marker = f"sqlfleet_timeout_{uuid.uuid4().hex}"
    outcome = run_script(
        target(postgres_server, databases[0]),
        auth,
        f"SELECT pg_sleep(60) /* {marker} */",
        timeout_seconds=1.5,
        max_rows=10,
    )
    assert outcome.timed_out and not outcome.succeeded
    assert "step timeout (1.5 s)" in outcome.error
    assert 1.4 <= outcome.elapsed_seconds < 10

    def query_gone():
        with admin(postgres_server) as conn:
            rows = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                (f"%{marker}%",),
            ).fetchone()
        return rows[0] == 0

    wait_until(query_gone, timeout=10, message="the cancelled query to leave pg_stat_activity")


def test_output_table_created_and_written(postgres_server, databases, auth):
    outcome = run_script(
        target(postgres_server, databases[0]),
        auth,
        "SELECT g AS n, g * 0.5::numeric(4,1) AS half, 'r' || g AS label, "
        "TIMESTAMP '2024-01-02 03:04:05' + g * INTERVAL '1 day' AS at, "
        "'\\x00ff'::bytea AS raw, g % 2 = 0 AS even FROM generate_series(1, 3) AS g",
        timeout_seconds=30,
        max_rows=100,
    )
    assert outcome.succeeded, outcome.error
    output = target(postgres_server, databases[1])
    first, second = uuid.uuid4(), uuid.uuid4()
    table = OutputTable("Results", "public")
    assert write_output(output, auth, table, outcome.columns, outcome.rows, first) == 3
    # As JSON would bring them back from the job database:
    columns = json.loads(json.dumps(outcome.to_json()))["columns"]
    assert write_output(output, auth, table, columns, outcome.rows[:1], second) == 1
    with admin(postgres_server, databases[1]) as conn:
        rows = conn.execute(
            'SELECT n, half, label, at, raw, even, internal_execution_id FROM "Results" '
            "ORDER BY internal_execution_id = %s, n",
            (first,),
        ).fetchall()
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'Results'"
            ).fetchall()
        )
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'Results'"
        ).fetchall()
    assert [r[-1] for r in rows] == [second, first, first, first]
    assert [(r[0], str(r[1]), r[2], r[4], r[5]) for r in rows[1:]] == [
        (1, "0.5", "r1", b"\x00\xff", False),
        (2, "1.0", "r2", b"\x00\xff", True),
        (3, "1.5", "r3", b"\x00\xff", False),
    ]
    assert str(rows[1][3]) == "2024-01-03 03:04:05"
    assert types == {
        "n": "bigint",
        "half": "numeric",
        "label": "text",
        "at": "timestamp without time zone",
        "raw": "bytea",
        "even": "boolean",
        "internal_execution_id": "uuid",
    }
    assert any('"IX_Results_Internal_Execution_ID"' in i[0] for i in index)


def test_unreachable_server_and_missing_database(postgres_server, auth):
    secret = ConnectionAuth(user="postgres", password="pw-SECRET-123")
    closed = Target("postgresql", "127.0.0.1", free_port(), "nowhere")
    outcome = run_script(closed, secret, "SELECT 1", timeout_seconds=10, max_rows=1)
    assert not outcome.succeeded and "pw-SECRET-123" not in outcome.error
    assert "refused" in outcome.error.lower() or "could not connect" in outcome.error.lower()
    missing = target(postgres_server, f"sqlfleet_missing_{uuid.uuid4().hex[:8]}")
    outcome = run_script(missing, auth, "SELECT 1", timeout_seconds=10, max_rows=1)
    assert "does not exist" in outcome.error
    member = SimpleNamespace(
        target_type="server", engine="postgresql", server_name="127.0.0.1",
        port=closed.port, elastic_pool_name=None,
    )  # fmt: skip
    with pytest.raises(TargetError) as caught:
        list_databases(member, secret)
    assert "pw-SECRET-123" not in str(caught.value)


@pytest.mark.parametrize(
    "hostile",
    [
        "x' host=192.0.2.1 dbname='y",  # would add keywords if libpq took it as a conninfo
        "postgresql://192.0.2.1:1/x",  # ... or a URI
        "x;Driver={evil};DSN=evil",  # what psqlODBC had to refuse
    ],
)
def test_a_database_name_is_only_a_name(postgres_server, auth, hostile):
    outcome = run_script(
        target(postgres_server, hostile), auth, "SELECT 1", timeout_seconds=10, max_rows=1
    )
    # The machine's server was asked for that database, verbatim, and nothing else was tried.
    assert f'database "{hostile}" does not exist' in outcome.error, outcome.error
    assert outcome.sqlstate == "3D000"  # not 08001: it fails at once (sqlfleet.errorclasses)
    assert outcome.elapsed_seconds < 5


def test_a_notice_flood_keeps_the_first_ones_and_counts_every_other(
    postgres_server, databases, auth
):
    flood = "DO $$ BEGIN FOR i IN 1..5000 LOOP RAISE NOTICE 'n%', i; END LOOP; END $$; SELECT 1"
    outcome = run_script(
        target(postgres_server, databases[0]), auth, flood, timeout_seconds=30, max_rows=1
    )
    assert outcome.succeeded, outcome.error
    assert outcome.messages[:2] == ["NOTICE: n1", "NOTICE: n2"]
    assert outcome.messages[998:] == ["NOTICE: n999", "... 4001 more message(s) not kept"]
    assert outcome.messages_dropped == 4001
    assert outcome.rows == [[1]]


def test_values_python_cannot_hold_come_back_as_the_server_s_text(postgres_server, databases, auth):
    outcome = run_script(
        target(postgres_server, databases[0]),
        auth,
        "SELECT 'infinity'::date AS d, '-infinity'::timestamp AS t, '24:00'::time AS e, "
        "'0044-03-15 BC'::date AS bc, '{\"a\": [1, 2]}'::jsonb AS j, ARRAY[1, 2] AS a, "
        "INTERVAL '1 day 2 hours' AS i, 12.5::money AS m, "
        "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz",
        timeout_seconds=30,
        max_rows=1,
    )
    assert outcome.succeeded, outcome.error
    assert [c.kind for c in outcome.columns] == [
        "date", "datetime", "time", "date", "text", "text", "text", "float", "datetime",
    ]  # fmt: skip
    assert outcome.rows == [
        ["infinity", "-infinity", "24:00:00", "0044-03-15 BC", '{"a": [1, 2]}', "{1,2}",
         "1 day 02:00:00", 12.5, "2024-01-02T03:04:05"],
    ]  # fmt: skip


class PasswordAsker:
    """A TCP peer that speaks just enough of PostgreSQL's protocol to ask for a clear-text
    password, and keeps what it is sent (None: the client sent none)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes | None] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection, self.listener:
            connection.settimeout(10)
            while True:
                (length,) = struct.unpack("!i", connection.recv(4, socket.MSG_WAITALL))
                body = connection.recv(length - 4, socket.MSG_WAITALL)
                if body[:4] in (struct.pack("!i", 80877103), struct.pack("!i", 80877104)):
                    connection.sendall(b"N")  # no TLS, no GSS encryption
                    continue
                break
            connection.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            kind = connection.recv(1)
            if kind != b"p":
                self.received.append(None)
                return
            (length,) = struct.unpack("!i", connection.recv(4, socket.MSG_WAITALL))
            self.received.append(connection.recv(length - 4, socket.MSG_WAITALL).rstrip(b"\0"))


def test_an_empty_password_never_becomes_the_host_s_stored_one(tmp_path, monkeypatch):
    # libpq looks a missing password up in PGPASSWORD and a password file (PGPASSFILE,
    # ~/.pgpass): a credential without one must not sign in with what the host keeps.
    asker = PasswordAsker()
    stored = tmp_path / "pgpass"
    stored.write_text(f"127.0.0.1:{asker.port}:*:*:host-SECRET-pw\n")
    stored.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(stored))
    monkeypatch.setenv("PGPASSWORD", "host-SECRET-pw")
    outcome = run_script(
        Target("postgresql", "127.0.0.1", asker.port, "db"),
        ConnectionAuth(user="someone", password=""),
        "SELECT 1",
        timeout_seconds=10,
        max_rows=1,
    )
    asker.thread.join(10)
    assert "no password supplied" in outcome.error, outcome.error
    assert asker.received in ([], [None])
    assert "host-SECRET-pw" not in outcome.error
