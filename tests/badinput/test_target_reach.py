"""A job's SQL reaches its targets and nothing of the host that runs it.

Each test plays an attacker who may define jobs on a host with default settings:

- MariaDB: ``LOAD DATA LOCAL INFILE`` of a file of the host (a marker file, and the host's own
  ``/proc/self/environ`` with ``SQLFLEET_CREDENTIAL_KEY`` in it) fails, and no byte of the file
  shows in any API answer, the target's table, the output table or the host's log; and a
  server the attacker runs, which asks for a file whatever the statement said, gets none;
- SQLite: ``load_extension()`` runs no native code (a marker file its constructor would write
  stays absent), ``ATTACH`` reads no other file (another database of the folder, the host's job
  database), ``VACUUM INTO`` writes no file;
- SQLite folders: outside ``SQLFLEET_SQLITE_ROOTS``, or the host's data folder (even under a
  root, through '..' or a symlink), are refused when saved (422 naming the field) and when a
  step runs (a symlink changed since: the target fails, nothing is opened).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import struct
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.badinput.conftest import JobDatabase
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


# --- SQLite: the target's file, and nothing else --------------------------------------------


def _sqlite_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sqlite_server(folder: Path, *names: str) -> Path:
    """A SQLite "server": ``folder`` with an empty database per name."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        sqlite3.connect(folder / f"{name}.db").close()
    return folder


def _sqlite_job(host: JobsHost, folder: Path, database: str, command: str) -> dict[str, Any]:
    """Run ``command`` on ``database`` of ``folder``; the only target's execution row."""
    group, job = unique("sqlite-reach"), unique("sqlite-reach")
    member = {
        "target_type": "database",
        "engine": "sqlite",
        "server_name": str(folder),
        "database_name": database,
    }
    put(host, "target-groups", group, {"members": [member]})
    host.put_job(job, [step("attack", command, group)])
    execution = host.run_job(job, timeout=90)
    (target,) = host.targets(execution["job_execution_id"])
    target["said"] = everything_the_host_said(host, execution["job_execution_id"])
    return target


EVIL_EXTENSION = r"""
#include <stdio.h>
/* Runs as soon as the library is loaded, before SQLite looks for its entry point. */
__attribute__((constructor)) static void evil(void) {
    FILE *marker = fopen("%s", "w");
    if (marker) { fputs("native code ran in the host", marker); fclose(marker); }
}
int sqlite3_extension_init(void *db, char **error, const void *api) { return 0; }
"""


def test_sqlite_load_extension_runs_no_native_code_in_the_host(
    badinput_host: JobsHost, tmp_path: Path
) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the extension")
    marker = tmp_path / "extension-ran.txt"
    source = tmp_path / "evil.c"
    source.write_text(EVIL_EXTENSION % marker)
    library = tmp_path / "evil.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    folder = _sqlite_server(tmp_path / "server", "db1")
    for call in (f"load_extension({_sqlite_text(str(library))})", "LOAD_EXTENSION('x')"):
        target = _sqlite_job(badinput_host, folder, "db1", f"SELECT {call}")
        assert target["lifecycle"] == "Failed", target
        assert "not authorized" in target["last_message"], target
        assert "would load native code into the host" in target["last_message"], target
    assert not marker.exists(), marker.read_text()


@pytest.mark.parametrize("spelled", ["literal", "expression"])
def test_sqlite_attach_reads_no_other_file(
    badinput_host: JobsHost, job_database: JobDatabase, tmp_path: Path, spelled: str
) -> None:
    """ATTACH of another database of the same (allowed) folder, and of the host's own job
    database with its credential ciphertexts: both refused, nothing of either comes back."""
    needle = f"OTHER-FILE-{uuid.uuid4().hex}"
    folder = _sqlite_server(tmp_path / "server", "db1")
    with contextlib.closing(sqlite3.connect(folder / "other.db")) as other:
        other.execute("CREATE TABLE secret (v text)")
        other.execute("INSERT INTO secret VALUES (?)", (needle,))
        other.commit()
    put(badinput_host, "credentials", "attach-victim", {"kind": "password", "username": "u",
        "password": f"Victim-{uuid.uuid4().hex}"})  # fmt: skip
    for path, query in [
        (folder / "other.db", "SELECT v FROM x.secret"),
        (job_database.path, "SELECT secret_ciphertext FROM x.credentials"),
    ]:
        text = str(path)
        name = (
            _sqlite_text(text)
            if spelled == "literal"
            else f"{_sqlite_text(text[:5])} || {_sqlite_text(text[5:])}"
        )
        target = _sqlite_job(badinput_host, folder, "db1", f"ATTACH {name} AS x; {query}")
        assert target["lifecycle"] == "Failed", target
        assert (
            "not authorized: ATTACH and VACUUM INTO open another file" in (target["last_message"])
        ), target
        assert needle.encode() not in target["said"]
    ciphertexts = job_database.rows("SELECT secret_ciphertext FROM credentials")
    assert ciphertexts
    assert not any(c.encode() in target["said"] for (c,) in ciphertexts if c)


def test_sqlite_vacuum_into_writes_no_file(badinput_host: JobsHost, tmp_path: Path) -> None:
    """A plain VACUUM still works; VACUUM INTO, to a folder SQLite targets may use or not,
    writes nothing."""
    folder = _sqlite_server(tmp_path / "server", "db1")
    for copy in (folder / "copy.db", tmp_path / "copy.db"):
        target = _sqlite_job(
            badinput_host, folder, "db1", f"VACUUM; VACUUM INTO {_sqlite_text(str(copy))}"
        )
        assert target["lifecycle"] == "Failed", target
        assert "ATTACH and VACUUM INTO open another file" in target["last_message"], target
        assert not copy.exists()
    target = _sqlite_job(badinput_host, folder, "db1", "CREATE TABLE t (v int); VACUUM")
    assert target["lifecycle"] == "Succeeded", target


# --- SQLite folders: under SQLFLEET_SQLITE_ROOTS, never the host's data ---------------------


def _refused(reply: Any, field: str) -> str:
    assert reply.status == 422, (reply.status, reply.body)
    assert reply.body["code"] == "SqliteFolderRefused", reply.body
    assert reply.body["field"] == field, reply.body
    return str(reply.body["message"])


def _sqlite_member(folder: str, **fields: Any) -> dict[str, Any]:
    return {"target_type": "server", "engine": "sqlite", "server_name": folder, **fields}


def test_sqlite_folders_outside_the_roots_are_refused_when_saved(
    badinput_host: JobsHost, job_database: JobDatabase, tmp_path: Path
) -> None:
    """The host allows its session's temporary folder only (tests/badinput/conftest.py):
    '/', a relative '..' (the host's working directory is the repository) and a path that
    climbs out with '..' are refused, in every document that names a SQLite folder, and
    nothing is written."""
    group = unique("outside")
    badinput_host.ok("PUT", f"/api/target-groups/{group}", {"members": []})
    before = job_database.fingerprint()
    roots = badinput_host.env["SQLFLEET_SQLITE_ROOTS"]
    for folder in ("/", "..", f"{tmp_path}/../../../../.."):
        reply = badinput_host.call(
            "PUT", f"/api/target-groups/{group}", {"members": [_sqlite_member(folder)]}
        )
        message = _refused(reply, "members[0].server_name")
        assert message.startswith(f"members[0].server_name '{folder}': SQLite folders must lie ")
        assert f"SQLFLEET_SQLITE_ROOTS (now: {roots})" in message
        reply = badinput_host.call(
            "POST", f"/api/target-groups/{group}/members", _sqlite_member(folder)
        )
        _refused(reply, "server_name")
        output = {"engine": "sqlite", "server_name": folder, "database_name": "d",
                  "table_name": "t"}  # fmt: skip
        reply = badinput_host.call(
            "PUT",
            f"/api/jobs/{unique('outside')}",
            {"steps": [step("s", "SELECT 1", group, output=output)]},
        )
        _refused(reply, "steps[0].output.server_name")
    assert job_database.fingerprint() == before


def test_the_data_folder_is_never_a_sqlite_folder(
    badinput_host: JobsHost, job_database: JobDatabase, tmp_path: Path
) -> None:
    """The data folder (job database, credential key) lies under the host's root here, and is
    still refused: as it is, inside it, through '..' and through a symlink."""
    data = Path(badinput_host.env["SQLFLEET_DATA_DIR"])
    link = tmp_path / "innocent"
    link.symlink_to(data, target_is_directory=True)
    group = unique("data-folder")
    before = job_database.fingerprint()
    for folder in (data, data / "sub", data / "sub" / "..", link):
        reply = badinput_host.call(
            "PUT", f"/api/target-groups/{group}", {"members": [_sqlite_member(str(folder))]}
        )
        message = _refused(reply, "members[0].server_name")
        assert "SQLFLEET_DATA_DIR" in message, message
    assert job_database.fingerprint() == before


def test_a_folder_turned_into_the_data_folder_is_refused_when_the_step_runs(
    badinput_host: JobsHost, job_database: JobDatabase, tmp_path: Path
) -> None:
    """Saved while it pointed at an allowed folder, the member's folder (a symlink) points at
    the data folder when the step runs: the target fails and the job database is not opened
    (the step would change a job's description and read the credential ciphertexts)."""
    real = _sqlite_server(tmp_path / "real", "jobs")
    link = tmp_path / "fleet"
    link.symlink_to(real, target_is_directory=True)
    group, job = unique("swapped"), unique("swapped")
    member = {"target_type": "database", "engine": "sqlite", "server_name": str(link),
              "database_name": "jobs"}  # fmt: skip
    badinput_host.ok("PUT", f"/api/target-groups/{group}", {"members": [member]})
    command = (
        f"UPDATE jobs SET description = 'pwned' WHERE name = {_sqlite_text(job)};\n"
        "SELECT name, secret_ciphertext FROM credentials"
    )
    badinput_host.put_job(job, [step("steal", command, group)], description="kept")
    link.unlink()
    link.symlink_to(Path(badinput_host.env["SQLFLEET_DATA_DIR"]), target_is_directory=True)

    execution = badinput_host.run_job(job, timeout=90)

    (target,) = badinput_host.targets(execution["job_execution_id"])
    assert target["lifecycle"] == "Failed", target
    message = target["last_message"]
    assert "SQLFLEET_DATA_DIR" in message and "nothing was opened" in message, message
    assert badinput_host.ok("GET", f"/api/jobs/{job}")["description"] == "kept"
    said = everything_the_host_said(badinput_host, execution["job_execution_id"])
    ciphertexts = [c for (c,) in job_database.rows("SELECT secret_ciphertext FROM credentials")]
    assert not any(c.encode() in said for c in ciphertexts if c)


@pytest.mark.parametrize(
    "server", ["/var/run/postgresql", "@abstract", "127.0.0.1,10.0.0.1", "/tmp"]
)
def test_a_postgresql_server_is_one_host_never_a_socket_of_this_host(
    badinput_host: JobsHost, job_database: JobDatabase, server: str
) -> None:
    """libpq reads a server name that is a path as a Unix socket of the host (its own
    PostgreSQL, as the host's user) and one with commas as several hosts: refused when saved,
    naming the field, and nothing is written."""
    group = unique("socket")
    before = job_database.fingerprint()
    member = {"target_type": "database", "engine": "postgresql", "server_name": server,
              "database_name": "postgres"}  # fmt: skip
    reply = badinput_host.call("PUT", f"/api/target-groups/{group}", {"members": [member]})
    assert reply.status == 422, (reply.status, reply.body)
    assert reply.body["field"] == "members[0].server_name", reply.body
    assert "one host name or IP address" in reply.body["message"], reply.body
    assert job_database.fingerprint() == before
