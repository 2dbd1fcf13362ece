"""A job's SQL reaches its targets and nothing of the host that runs it.

Each test plays an attacker who may define jobs on a host with default settings:

- MariaDB: ``LOAD DATA LOCAL INFILE`` of a file of the host (a marker file, and the host's own
  ``/proc/self/environ`` with ``SQLFLEET_CREDENTIAL_KEY`` in it) fails, and no byte of the file
  shows in any API answer, the target's table, the output table or the host's log; and a
  server the attacker runs, which asks for a file whatever the statement said, gets none.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.jobs.fleet import SECRET, MariaDbFleet, step, unique
from tests.jobs.host import JobsHost
from tests.support.servers import ServerAddress


def put(host: JobsHost, kind: str, name: str, body: dict[str, Any]) -> None:
    host.ok("PUT", f"/api/{kind}/{quote(name, safe='')}", body)


def everything_the_host_said(host: JobsHost, execution_id: str) -> bytes:
    """Every answer of the host so far (with the execution and its output read once more), and
    its log."""
    host.ok("GET", f"/api/executions/{execution_id}")
    host.ok("GET", f"/api/executions/{execution_id}/output")
    return b"".join(host.responses) + host.log().encode()


# --- MariaDB: LOAD DATA LOCAL INFILE --------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb(mariadb_server: ServerAddress, badinput_host: JobsHost) -> Iterator[MariaDbFleet]:
    fleet = MariaDbFleet(mariadb_server, unique("reach_login"))
    fleet.create_user()
    put(
        badinput_host,
        "credentials",
        "mariadb-reach",
        {"kind": "password", "username": fleet.user, "password": SECRET},
    )
    try:
        yield fleet
    finally:
        fleet.drop_all()
        fleet.drop_user()


def _mysql_text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@pytest.mark.mariadb
@pytest.mark.parametrize("source", ["marker file", "host environment"])
def test_mariadb_load_data_local_infile_reads_no_file_of_the_host(
    badinput_host: JobsHost, mariadb: MariaDbFleet, tmp_path: Path, source: str
) -> None:
    if source == "marker file":
        needle = f"HOST-FILE-{uuid.uuid4().hex}"
        path = tmp_path / "host-secret.txt"
        path.write_text(f"first line\n{needle}\nlast line\n")
        wanted = str(path)
    else:
        # The host's environment holds the key that decrypts every stored password.
        needle = badinput_host.env["SQLFLEET_CREDENTIAL_KEY"]
        wanted = "/proc/self/environ"
    database = mariadb.create_database(unique("reach"))
    group, job = unique("mariadb-infile"), unique("mariadb-infile")
    put(badinput_host, "target-groups", group, {"members": [mariadb.database_member(database)]})
    mariadb.execute(f"CREATE TABLE `{database}`.loot (line longtext)")
    # The statement comes first: Connector/C's own guard ("auto" mode) lets the server have a
    # file only when the text sent starts with LOAD, and the driver sends this one by itself.
    load = f"LOAD DATA LOCAL INFILE {_mysql_text(wanted)} INTO TABLE loot"
    command = f"{load};\nSELECT line FROM loot"
    output = {
        "engine": "mysql",
        "server_name": mariadb.address.host,
        "port": mariadb.address.port,
        "database_name": database,
        "table_name": "loot_out",
        "credential_name": "mariadb-reach",
    }
    badinput_host.put_job(
        job, [step("steal", command, group, credential_name="mariadb-reach", output=output)]
    )

    execution = badinput_host.run_job(job, timeout=90)

    (target,) = badinput_host.targets(execution["job_execution_id"])
    assert target["lifecycle"] == "Failed", target
    assert "local infile" in (target["last_message"] or "").lower(), target
    said = everything_the_host_said(badinput_host, execution["job_execution_id"])
    assert needle.encode() not in said
    assert mariadb.execute(f"SELECT COUNT(*) FROM `{database}`.loot") == [(0,)]
    assert "loot_out" not in mariadb.tables(database)


class RogueMariaDb:
    """A server that speaks just enough of the MariaDB protocol to accept any sign-in and then
    answer a query that starts with LOAD by asking the client for ``wanted``, a file of the
    host (what a server an attacker runs can do, whatever file the statement named).

    ``capabilities`` are the client's flags from its handshake; ``received`` is what the client
    sent when asked for the file."""

    CLIENT_LOCAL_FILES = 128

    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.capabilities: list[int] = []
        self.received = b""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, name="rogue-mariadb", daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            # ConnectionError is an OSError: the client hung up, wait for the next one.
            with connection, contextlib.suppress(OSError):
                self._session(connection)

    def _session(self, connection: socket.socket) -> None:
        # protocol 10, version, thread id, salt part 1, capabilities (local files, protocol
        # 4.1, secure connection, multi statements and results, plugin auth), utf8, status,
        # salt length, reserved, salt part 2, plugin name.
        capabilities = 1 | 8 | 128 | 512 | 0x8000 | 0x10000 | 0x20000 | 0x80000
        greeting = (
            b"\x0a5.5.5-10.11.0-MariaDB-rogue\x00"
            + struct.pack("<I", 7)
            + b"abcdefgh\x00"
            + struct.pack("<H", capabilities & 0xFFFF)
            + b"\x21\x02\x00"
            + struct.pack("<H", capabilities >> 16)
            + b"\x15"
            + b"\x00" * 10
            + b"ijklmnopqrst\x00"
            + b"mysql_native_password\x00"
        )
        _send(connection, 0, greeting)
        _, answer = _receive(connection)
        self.capabilities.append(struct.unpack("<I", answer[:4])[0])
        _send(connection, 2, OK_PACKET)
        while True:
            sequence, command = _receive(connection)
            if command[:1] == b"\x01":  # COM_QUIT
                return
            text = command[1:].decode(errors="replace").lstrip()
            if command[:1] == b"\x03" and text[:4].lower() == "load":
                _send(connection, 1, b"\xfb" + self.wanted.encode())
                sequence = 1
                while True:  # the file's content, then an empty packet
                    sequence, chunk = _receive(connection)
                    if not chunk:
                        break
                    self.received += chunk
                _send(connection, sequence + 1, OK_PACKET)
            elif command[:1] == b"\x16":  # COM_STMT_PREPARE: let the driver use plain text
                _send(connection, 1, ERR_UNSUPPORTED_PS)
            else:
                _send(connection, 1, OK_PACKET)


OK_PACKET = b"\x00\x00\x00\x02\x00\x00\x00"
ERR_UNSUPPORTED_PS = (
    b"\xff" + struct.pack("<H", 1295) + b"#HY000This command is not supported in the prepared "
    b"statement protocol yet"
)


def _send(connection: socket.socket, sequence: int, payload: bytes) -> None:
    connection.sendall(struct.pack("<I", len(payload))[:3] + bytes([sequence & 0xFF]) + payload)


def _receive(connection: socket.socket) -> tuple[int, bytes]:
    header = _exactly(connection, 4)
    length = int.from_bytes(header[:3], "little")
    return header[3], _exactly(connection, length)


def _exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data


def test_a_rogue_mariadb_server_gets_no_file_of_the_host(
    badinput_host: JobsHost, tmp_path: Path
) -> None:
    """The member is a server the attacker runs: it asks for a file of its choice. The client
    does not even offer to send files (no CLIENT_LOCAL_FILES in its handshake), and sends
    none."""
    needle = f"HOST-FILE-{uuid.uuid4().hex}"
    path = tmp_path / "host-secret.txt"
    path.write_text(needle + "\n")
    rogue = RogueMariaDb(str(path))
    try:
        put(
            badinput_host,
            "credentials",
            "rogue-login",
            {"kind": "password", "username": "u", "password": "rogue-pw-never-checked"},
        )
        member = {
            "target_type": "database",
            "engine": "mysql",
            "server_name": "127.0.0.1",
            "port": rogue.port,
            "database_name": "any",
        }
        group, job = unique("rogue"), unique("rogue")
        put(badinput_host, "target-groups", group, {"members": [member]})
        command = "LOAD DATA LOCAL INFILE 'innocent.csv' INTO TABLE t"
        badinput_host.put_job(job, [step("steal", command, group, credential_name="rogue-login")])

        execution = badinput_host.run_job(job, timeout=90)

        (target,) = badinput_host.targets(execution["job_execution_id"])
        said = everything_the_host_said(badinput_host, execution["job_execution_id"])
    finally:
        rogue.close()
    assert rogue.capabilities, "the host never signed in to the rogue server"
    assert all(not flags & RogueMariaDb.CLIENT_LOCAL_FILES for flags in rogue.capabilities)
    assert needle.encode() not in rogue.received
    assert rogue.received == b""
    assert needle.encode() not in said
    assert target["lifecycle"] == "Failed", target
