"""Fault suite on private PostgreSQL clusters (never the machine's own server): targets that go
away and come back, a job database that goes away and comes back, targets that hang, and a
login that is refused.

``SQLFLEET_RELIABILITY_PG_TARGETS`` (default 8) sets how many databases the outage tests use.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.devhost.host.hostproc import poll
from tests.reliability.clusters import PasswordCluster, unique
from tests.reliability.conftest import HostFactory, new_password
from tests.reliability.host import FleetHost
from tests.reliability.jobrows import JobRows, execution_problems
from tests.reliability.leaks import HOST_LOG, HTTP_RESPONSE, JOB_DATABASE, TASK_HUB, LeakWatch

pytestmark = pytest.mark.reliability

PG_TARGETS = int(os.environ.get("SQLFLEET_RELIABILITY_PG_TARGETS", "8"))
# How long the job database stays down (the brief: "for a while", about ten seconds).
JOB_DATABASE_OUTAGE_SECONDS = float(os.environ.get("SQLFLEET_RELIABILITY_OUTAGE_SECONDS", "10"))
RUNS_TABLE = (
    "CREATE TABLE IF NOT EXISTS fleet_runs (at timestamptz NOT NULL DEFAULT now());\n"
    "INSERT INTO fleet_runs DEFAULT VALUES;"
)


def login(cluster: PasswordCluster, host: FleetHost, watch: LeakWatch, credential: str) -> str:
    """A login role with a fresh password, and a credential named ``credential`` on ``host``
    for it; answers the role name."""
    role = unique("rel_login")
    password = new_password(watch, f"password of {role}")
    cluster.create_role(role, password)
    host.put_credential(credential, role, password)
    # User names are stored and logged in plain text: finding one proves the scan reads there.
    watch.expect(JOB_DATABASE, role)
    return role


def databases(cluster: PasswordCluster, owner: str, count: int, prefix: str) -> list[str]:
    return [cluster.create_database(unique(prefix), owner) for _ in range(count)]


def step(name: str, command: str, group: str, credential: str, **fields: Any) -> dict[str, Any]:
    return {
        "step_name": name,
        "command": command,
        "target_group_name": group,
        "credential_name": credential,
        "retry_attempts": 10,
        "initial_retry_interval_seconds": 1,
        "maximum_retry_interval_seconds": 2,
        "retry_interval_backoff_multiplier": 2.0,
        "step_timeout_seconds": 120,
        **fields,
    }


def runs(cluster: PasswordCluster, dbname: str) -> int:
    try:
        return int(cluster.rows(dbname, "SELECT count(*) FROM fleet_runs")[0][0])
    except psycopg.errors.UndefinedTable:
        return 0


def test_targets_retry_through_a_postgresql_outage(
    target_cluster: PasswordCluster, shared_host: FleetHost, leak_watch: LeakWatch
) -> None:
    host = shared_host
    role = login(target_cluster, host, leak_watch, "outage-login")
    names = databases(target_cluster, role, PG_TARGETS, "rel_outage")
    host.put_target_group("outage-fleet", [target_cluster.member(n) for n in names])
    marker = unique("outage")
    command = f"/* {marker} */ SELECT pg_sleep(2);\n{RUNS_TABLE}"
    host.put_job("outage-job", [step("sleepy", command, "outage-fleet", "outage-login")])
    execution_id = host.start_job("outage-job")
    leak_watch.expect(TASK_HUB, execution_id)

    poll(lambda: target_cluster.running(marker), 60, "a target script to be running")
    target_cluster.stop()  # "fast": the running scripts lose their connections
    try:

        def retried_while_down() -> bool:
            targets = host.targets(host.execution(execution_id))
            return any(
                t["lifecycle"] == "WaitingForRetry" and t["current_attempts"] >= 2 for t in targets
            )

        poll(retried_while_down, 60, "a retry to fail while PostgreSQL is down", 0.2)
    finally:
        target_cluster.start()

    execution = host.wait_finished(execution_id, 180)
    targets = host.targets(execution)
    assert execution["lifecycle"] == "Succeeded", [
        (t["target_database_name"], t["lifecycle"], t["last_message"]) for t in targets
    ]
    assert max(t["current_attempts"] for t in targets) >= 2
    rows = JobRows(f"sqlite:///{host.root / 'app' / 'jobs.db'}")
    assert not execution_problems(rows.rows(execution_id), [1], names)
    rows.close()
    assert all(runs(target_cluster, name) >= 1 for name in names)


def _dump_job_database(cluster: PasswordCluster, dbname: str) -> bytes:
    """Every row of every table of the job database, as text (plain text is what a leak is)."""
    out: list[str] = []
    tables = cluster.rows(
        dbname, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    )
    with cluster.admin(dbname) as connection:
        for (table,) in tables:
            query = sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(table))
            out += [f"{table}: {row[0]}" for row in connection.execute(query)]
    return "\n".join(out).encode()


def test_the_host_rides_out_a_job_database_outage(
    job_cluster: PasswordCluster,
    target_cluster: PasswordCluster,
    fleet_host: HostFactory,
    leak_watch: LeakWatch,
) -> None:
    owner = unique("rel_jobs")
    owner_password = new_password(leak_watch, "job database password")
    job_cluster.create_role(owner, owner_password)
    jobs_db = job_cluster.create_database(unique("rel_jobdb"), owner)
    url = f"postgresql+psycopg://{owner}:{owner_password}@127.0.0.1:{job_cluster.port}/{jobs_db}"
    leak_watch.dump(
        JOB_DATABASE, f"rows of {jobs_db}", lambda: _dump_job_database(job_cluster, jobs_db)
    )
    host = fleet_host("jobdb-outage", SQLFLEET_JOB_DATABASE_URL=url)
    role = login(target_cluster, host, leak_watch, "jobdb-login")
    names = databases(target_cluster, role, PG_TARGETS, "rel_jobdb_target")
    host.put_target_group("jobdb-fleet", [target_cluster.member(n) for n in names])
    marker = unique("jobdb")
    command = f"/* {marker} */ SELECT pg_sleep(1);\n{RUNS_TABLE}"
    host.put_job("jobdb-job", [step("through", command, "jobdb-fleet", "jobdb-login")])
    execution_id = host.start_job("jobdb-job")
    leak_watch.expect(JOB_DATABASE, execution_id)

    poll(lambda: target_cluster.running(marker), 60, "a target script to be running")
    job_cluster.stop()
    statuses: set[int] = set()
    try:
        # The scripts end while the job database is away; the host must keep serving.
        down_until = time.monotonic() + JOB_DATABASE_OUTAGE_SECONDS
        while time.monotonic() < down_until:
            assert host.alive, f"the host died with its job database:\n{host.log()[-3000:]}"
            assert host.call("GET", "/admin/host/ping", timeout=10).status == 200
            statuses.add(host.call("GET", f"/api/executions/{execution_id}", timeout=10).status)
            time.sleep(0.5)  # paces the probes; the outage length is the deadline above
    finally:
        job_cluster.start()
    assert statuses == {503}, f"the API answered {statuses} while its database was down"

    execution = host.wait_finished(execution_id, 240)
    targets = host.targets(execution)
    assert execution["lifecycle"] == "Succeeded", [
        (t["target_database_name"], t["lifecycle"], t["last_message"]) for t in targets
    ]
    rows = JobRows(url)
    assert not execution_problems(rows.rows(execution_id), [1], names)
    assert rows.execution_ids("jobdb-job") == [execution_id]
    rows.close()
    assert all(runs(target_cluster, name) >= 1 for name in names)


def test_a_hanging_target_times_out_and_leaves_nothing_running(
    target_cluster: PasswordCluster, shared_host: FleetHost, leak_watch: LeakWatch
) -> None:
    host = shared_host
    role = login(target_cluster, host, leak_watch, "hang-login")
    locked, sleeping = databases(target_cluster, role, 2, "rel_hang")
    # One target waits for a lock this test holds, the other sleeps in a view.
    target_cluster.execute(locked, sql.SQL("CREATE TABLE hold_me (x int)"))
    target_cluster.execute(
        sleeping, sql.SQL("CREATE VIEW hold_me AS SELECT 1 AS x FROM pg_sleep(600)")
    )
    for name in (locked, sleeping):
        target_cluster.execute(
            name, sql.SQL("ALTER TABLE hold_me OWNER TO {}").format(sql.Identifier(role))
        )
    host.put_target_group(
        "hang-fleet", [target_cluster.member(locked), target_cluster.member(sleeping)]
    )
    marker = unique("hang")
    timeout = 3
    command = f"/* {marker} */ SELECT count(*) FROM hold_me"
    host.put_job(
        "hang-job",
        [step("stuck", command, "hang-fleet", "hang-login", step_timeout_seconds=timeout)],
    )
    with target_cluster.admin(locked) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE hold_me IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        execution_id = host.start_job("hang-job")
        execution = host.wait_finished(execution_id, 60)
        elapsed = time.monotonic() - started
        targets = host.targets(execution)
        assert [t["lifecycle"] for t in targets] == ["TimedOut", "TimedOut"], targets
        assert [t["current_attempts"] for t in targets] == [1, 1], "a timeout is not retried"
        assert all(f"step timeout ({timeout} s)" in t["last_message"] for t in targets)
        assert execution["lifecycle"] == "TimedOut"
        assert elapsed < timeout + 30, f"the execution took {elapsed:.1f} s to time out"
        # The statements were cancelled and their sessions closed; the lock is still ours.
        poll(lambda: not target_cluster.running(marker), 10, "the hung sessions to go away")
        holder.execute("ROLLBACK")


def test_a_refused_login_fails_at_once_with_a_clear_message(
    target_cluster: PasswordCluster, shared_host: FleetHost, leak_watch: LeakWatch
) -> None:
    host = shared_host
    role = unique("rel_refused")
    target_cluster.create_role(role, new_password(leak_watch, f"password of {role}"))
    (name,) = databases(target_cluster, role, 1, "rel_refused")
    wrong = new_password(leak_watch, f"wrong password for {role}")
    host.put_credential("wrong-login", role, wrong)
    host.put_target_group("refused-fleet", [target_cluster.member(name)])
    host.put_job(
        "refused-job",
        [step("denied", "SELECT 1", "refused-fleet", "wrong-login", retry_attempts=5)],
    )
    refusal = rf'FATAL:  password authentication failed for user "{role}"'
    execution = host.wait_finished(host.start_job("refused-job"), 60)
    (target,) = host.targets(execution)
    assert (execution["lifecycle"], target["lifecycle"]) == ("Failed", "Failed")
    assert f'password authentication failed for user "{role}"' in target["last_message"]
    assert target["current_attempts"] == 1, "a refused login was retried"
    assert target_cluster.log_count(refusal) == 1, "the server saw more than one sign-in"
    leak_watch.expect(HTTP_RESPONSE, "password authentication failed")
    leak_watch.expect(HOST_LOG, "run_target")
