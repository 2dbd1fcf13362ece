"""Real database servers for tests.

PostgreSQL: the machine's server on 127.0.0.1:5432 when it answers, else a private cluster made
with ``initdb`` and started with ``pg_ctl`` on a free port (and stopped at the end of the session).
``start_private_postgres`` is also what fault tests use when they need a server they may stop.
MariaDB: the machine's server on 127.0.0.1:3306 when it answers; otherwise its tests are skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    user: str
    password: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout:g}s")
        time.sleep(interval)


def _pg_bin(tool: str) -> str | None:
    found = shutil.which(tool)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True):
        return str(candidate)
    return None


@dataclasses.dataclass
class PrivatePostgres:
    """A PostgreSQL cluster owned by the test session; ``stop``/``start`` simulate outages."""

    data_dir: Path
    port: int
    user: str
    _run_as: list[str]

    @property
    def address(self) -> ServerAddress:
        return ServerAddress("127.0.0.1", self.port, self.user)

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = _pg_bin("pg_ctl")
        assert pg_ctl, "pg_ctl not found"
        subprocess.run(
            [*self._run_as, pg_ctl, "-D", str(self.data_dir), "-w", "-t", "60", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        log = self.data_dir.parent / "postgres.log"
        self._pg_ctl(
            "-l",
            str(log),
            "-o",
            f"-p {self.port} -k {self.data_dir.parent} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        wait_until(lambda: answers("127.0.0.1", self.port), 30, message="private PostgreSQL")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_private_postgres() -> PrivatePostgres:
    """initdb + pg_ctl a throwaway cluster (trust auth) on a free port; root runs it as postgres."""
    initdb = _pg_bin("initdb")
    if not initdb:
        raise RuntimeError("initdb not found: install PostgreSQL server binaries")
    root = Path(tempfile.mkdtemp(prefix="sqlfleet-pg-"))
    run_as: list[str] = []
    user = getpass.getuser()
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root.
        shutil.chown(root, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
        user = "postgres"
    data = root / "data"
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-A", "trust", "-U", user, "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrivatePostgres(data, free_port(), user, run_as)
    server.start()
    return server
