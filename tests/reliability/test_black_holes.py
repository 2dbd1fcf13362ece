"""Targets that never answer: a "black hole" is a TCP listener this test starts, which accepts
connections and never sends a byte, so a MySQL/MariaDB client waits for the server's handshake.

Such targets must end ``TimedOut`` at the step timeout (or ``Canceled`` on a cancel), and while
they hang they must not take every activity slot of the host: an unrelated job started meanwhile
finishes promptly (``activities.slots``).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.devhost.host.hostproc import poll
from tests.reliability.clusters import PasswordCluster, unique
from tests.reliability.conftest import HostFactory, new_password
from tests.reliability.host import FleetHost
from tests.reliability.leaks import LeakWatch
from tests.reliability.test_faults import databases, login

pytestmark = pytest.mark.reliability

BLACK_HOLES = 40
STEP_TIMEOUT = 4
# How long the unrelated one-target SQLite job may take from start to end (a tenth of a second
# here). Well under STEP_TIMEOUT: were every slot held by the black holes, the job would wait
# for their first wave to time out, a step timeout less the moment they took to connect.
PROMPT_SECONDS = 2.5


class BlackHole:
    """A listener on a free loopback port that accepts and holds connections, silent."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.listener.close()
        with self._lock:
            for connection in self.held:
                connection.close()

    def open_connections(self) -> int:
        """Connections accepted and not closed by the client."""
        with self._lock:
            alive = []
            for connection in self.held:
                try:
                    closed = connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                if closed:
                    connection.close()
                else:
                    alive.append(connection)
            self.held = alive
            return len(alive)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.held.append(connection)


def mysql_member(port: int, database: str) -> dict[str, Any]:
    return {
        "target_type": "database",
        "engine": "mysql",
        "server_name": "127.0.0.1",
        "port": port,
        "database_name": database,
    }


# About two seconds of work for SQLite.
SLOW_SQLITE = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000) "
    "SELECT count(*) FROM c"
)


def step(name: str, command: str, group: str, credential: str, **fields: Any) -> dict[str, Any]:
    return {
        "step_name": name,
        "command": command,
        "target_group_name": group,
        "credential_name": credential,
        "retry_attempts": 3,
        "initial_retry_interval_seconds": 1,
        "maximum_retry_interval_seconds": 1,
        **fields,
    }


def sqlite_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "lite"
    folder.mkdir()
    sqlite3.connect(folder / "one.db").close()
    return folder


def test_black_hole_targets_time_out_and_leave_slots_to_other_jobs(
    shared_host: FleetHost, leak_watch: LeakWatch, tmp_path: Path
) -> None:
    host = shared_host
    login, holes, holes_job = unique("hole-login"), unique("holes"), unique("holes-job")
    lite_group, lite_job = unique("lite"), unique("lite-job")
    host.put_credential(login, "root", new_password(leak_watch, "black hole login"))
    with BlackHole() as hole:
        members = [mysql_member(hole.port, f"hole{i}") for i in range(BLACK_HOLES)]
        host.put_target_group(holes, members)
        host.put_job(
            holes_job,
            [step("stuck", "SELECT 1", holes, login, step_timeout_seconds=STEP_TIMEOUT)],
        )
        lite = {
            "target_type": "server",
            "engine": "sqlite",
            "server_name": str(sqlite_folder(tmp_path)),
        }
        host.put_target_group(lite_group, [lite])
        host.put_job(lite_job, [step("quick", "SELECT 1 AS one", lite_group, login)])

        started = time.monotonic()
        holes_id = host.start_job(holes_job)
        # The black holes hold as many connections as the host lets one execution hold.
        poll(lambda: hole.open_connections() >= 10, 20, "the black holes to fill up", 0.1)
        lite_started = time.monotonic()
        lite_id = host.start_job(lite_job)
        lite_run = host.wait_finished(lite_id, 60)
        lite_seconds = time.monotonic() - lite_started
        holding = hole.open_connections()
        assert lite_run["lifecycle"] == "Succeeded", lite_run
        assert lite_seconds < PROMPT_SECONDS, f"the SQLite job took {lite_seconds:.1f} s"
        assert host.execution(holes_id)["is_active"], "the black holes were still hanging"
        assert holding >= 10, f"only {holding} connections hung meanwhile"

        execution = host.wait_finished(holes_id, 6 * STEP_TIMEOUT + 30)
        elapsed = time.monotonic() - started
        targets = host.targets(execution)
        assert len(targets) == BLACK_HOLES
        assert {t["lifecycle"] for t in targets} == {"TimedOut"}, targets
        assert {t["current_attempts"] for t in targets} == {1}, "a timeout is not retried"
        assert all(f"step timeout ({STEP_TIMEOUT} s)" in t["last_message"] for t in targets)
        assert execution["lifecycle"] == "TimedOut"
        # At most three quarters of the host's 24 target slots at a time: three waves.
        assert elapsed < 3 * STEP_TIMEOUT + 20, f"the black holes took {elapsed:.1f} s"
        poll(lambda: hole.open_connections() == 0, 10, "the clients to hang up")


def test_a_cancel_ends_black_hole_targets_within_seconds(
    shared_host: FleetHost, leak_watch: LeakWatch
) -> None:
    host = shared_host
    login, holes, holes_job = unique("hole-login"), unique("holes"), unique("holes-job")
    host.put_credential(login, "root", new_password(leak_watch, "black hole login"))
    with BlackHole() as hole:
        host.put_target_group(holes, [mysql_member(hole.port, f"hole{i}") for i in range(2)])
        host.put_job(holes_job, [step("stuck", "SELECT 1", holes, login, step_timeout_seconds=600)])
        execution_id = host.start_job(holes_job)
        poll(lambda: hole.open_connections() == 2, 20, "both targets connecting", 0.1)
        canceled = time.monotonic()
        reply = host.call("POST", f"/api/executions/{execution_id}/cancel")
        assert reply.status in (200, 202), reply.text
        execution = host.wait_finished(execution_id, 30)
        took = time.monotonic() - canceled
        targets = host.targets(execution)
        assert execution["lifecycle"] == "Canceled", execution
        assert [t["lifecycle"] for t in targets] == ["Canceled", "Canceled"], targets
        # The cancel watch looks every second, then the driver gets 5 s to stop.
        assert took < 15, f"the cancel took {took:.1f} s"


def test_a_host_with_one_target_slot_still_runs_every_target(
    fleet_host: HostFactory, leak_watch: LeakWatch, tmp_path: Path
) -> None:
    # One slot: every attempt but one at a time is deferred, per target (a step in lanes,
    # whose targets wait in their lanes) and per chunk (steps of SQLite files, small and big,
    # run their chunks from the execution itself: deferred chunks wait in a step_batch). A
    # slow target holds the slot while the others start.
    host = fleet_host("one-slot", SQLFLEET_TARGET_ACTIVITY_SLOTS="1")
    host.put_credential("lite-login", "nobody", new_password(leak_watch, "one slot login"))
    sizes = {"slow": 1, "lanes": 3, "small": 5, "big": 520}
    commands = {"slow": SLOW_SQLITE}
    for name, count in sizes.items():
        folder = tmp_path / name
        folder.mkdir()
        for index in range(count):
            (folder / f"db{index:03}.db").touch()
        member = {"target_type": "server", "engine": "sqlite", "server_name": str(folder)}
        host.put_target_group(name, [member])
        bound = {"max_parallelism": 3} if name == "lanes" else {}
        command = commands.get(name, "SELECT 1 AS one")
        host.put_job(name, [step("only", command, name, "lite-login", **bound)])
    started = {"slow": host.start_job("slow")}
    poll(
        lambda: any(
            t["lifecycle"] == "InProgress" for t in host.targets(host.execution(started["slow"]))
        ),
        30,
        "the slow target to start",
        interval=0.05,
    )
    started.update({name: host.start_job(name) for name in sizes if name != "slow"})
    for name, execution_id in started.items():
        execution = host.wait_finished(execution_id, 90)
        assert execution["lifecycle"] == "Succeeded", execution
        progress = execution["steps"][0]["progress"]
        assert progress["counts"] == {"Succeeded": sizes[name]}, progress
        assert progress["attempts"] == sizes[name], "a deferral is no attempt"
    children = host.ok(
        "GET", f"/runtime/webhooks/durabletask/instances?instanceIdPrefix={started['small']}:"
    )
    assert [(c["name"], c["runtimeStatus"]) for c in children] == [("step_batch", "Completed")]


def test_a_frozen_postgresql_server_ends_the_target_at_the_step_timeout(
    target_cluster: PasswordCluster, shared_host: FleetHost, leak_watch: LeakWatch
) -> None:
    # The server process of the target's session stops (SIGSTOP) mid-statement: libpq has no
    # read timeout, and the cancel request is queued for a process that does not run. Only
    # giving up on the driver (5 s past the step timeout) ends the target.
    host = shared_host
    role = login(target_cluster, host, leak_watch, "frozen-login")
    (database,) = databases(target_cluster, role, 1, "rel_frozen")
    host.put_target_group("frozen", [target_cluster.member(database)])
    marker = unique("frozen")
    command = f"SELECT pg_sleep(30) /* {marker} */"
    host.put_job("frozen-job", [step("stuck", command, "frozen", "frozen-login",
                                     step_timeout_seconds=STEP_TIMEOUT)])  # fmt: skip
    execution_id = host.start_job("frozen-job")
    ((pid, *_),) = poll(lambda: target_cluster.running(marker), 20, "the statement to run")
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        execution = host.wait_finished(execution_id, 60)
        took = time.monotonic() - started
        (target,) = host.targets(execution)
        assert target["lifecycle"] == "TimedOut", target
        assert "the driver did not stop within 5 s" in target["last_message"], target
        assert took < STEP_TIMEOUT + 15, f"the target took {took:.1f} s to end"
    finally:
        os.kill(pid, signal.SIGCONT)
    # Running again, the server takes the queued cancel; the abandoned call ends with it.
    poll(lambda: not target_cluster.running(marker), 20, "the frozen statement to end")
