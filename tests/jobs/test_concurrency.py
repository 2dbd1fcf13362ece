"""Executions that meet each other and the server: cancel mid-run, overlapping executions
(Skipped), and ``max_parallelism`` measured on the PostgreSQL server itself."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from tests.jobs.conftest import PG_CREDENTIAL
from tests.jobs.fleet import PostgresFleet, step, unique
from tests.jobs.host import JobsHost, poll

ACTIVE_RUNTIME = ("Running", "Pending", "ContinuedAsNew")


def _group(host: JobsHost, *members: dict[str, Any]) -> str:
    name = unique("group")
    host.ok("PUT", f"/api/target-groups/{name}", {"members": list(members)})
    return name


def _states(host: JobsHost, execution_id: str) -> dict[str, str]:
    return {t["target_database_name"]: t["lifecycle"] for t in host.targets(execution_id)}


def test_cancel_mid_run_stops_everything_within_seconds(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    sleepers = [pg_database("cancel_sleep"), pg_database("cancel_sleep")]
    failing = pg_database("cancel_fail")
    marker = unique("cancel_me")
    group = _group(jobs_host, *(pg.database_member(db) for db in [*sleepers, failing]))
    # Sleeps on the sleepers; fails at once on the other, which then waits a minute to retry.
    command = (
        f"DO $$ BEGIN IF current_database() LIKE 'cancel_fail%' THEN "
        f"RAISE EXCEPTION 'failing on purpose'; END IF; END $$; "
        f"SELECT pg_sleep(60) /* {marker} */"
    )
    job = unique("cancel")
    jobs_host.put_job(
        job,
        [
            step(
                "sleep",
                command,
                group,
                credential_name=PG_CREDENTIAL,
                retry_attempts=5,
                initial_retry_interval_seconds=60,
                maximum_retry_interval_seconds=60,
            ),
            step("never", "SELECT 1", group, credential_name=PG_CREDENTIAL),
        ],
    )
    execution_id = jobs_host.start_job(job)
    poll(lambda: len(pg.running(marker)) == 2, 30, "both sleepers running on the server")
    poll(
        lambda: _states(jobs_host, execution_id).get(failing) == "WaitingForRetry",
        30,
        "the failing target to wait for its retry",
    )
    canceled_at = dt.datetime.now(dt.timezone.utc)
    reply = jobs_host.call("POST", f"/api/executions/{execution_id}/cancel")
    assert reply.status == 202, reply.body
    assert reply.body["cancel_requested"] is True

    execution = jobs_host.wait_finished(execution_id, timeout=15)
    assert execution["lifecycle"] == "Canceled"
    step1, step2 = execution["steps"]
    assert step1["lifecycle"] == "Canceled"
    assert {t["lifecycle"] for t in step1["targets"]} == {"Canceled"}
    assert step2["lifecycle"] in ("Canceled", "Skipped")
    assert step2["targets"] == []
    ended = dt.datetime.fromisoformat(execution["end_time"].replace("Z", "+00:00"))
    assert (ended - canceled_at).total_seconds() < 10
    # Nothing left running: no statement on the server, no orchestration in the task hub.
    poll(lambda: not pg.running(marker), 10, "the cancelled statements to leave the server")

    def settled() -> bool:
        instances = jobs_host.instances(execution_id)
        return bool(instances) and all(i["runtimeStatus"] not in ACTIVE_RUNTIME for i in instances)

    poll(settled, 10, "every orchestration of the execution to end")


def test_second_execution_is_skipped_where_the_first_still_runs(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("overlap")
    marker = unique("overlap")
    group = _group(jobs_host, pg.database_member(database))
    job = unique("overlap")
    jobs_host.put_job(
        job,
        [step("hold", f"SELECT pg_sleep(5) /* {marker} */", group, credential_name=PG_CREDENTIAL)],
    )
    first = jobs_host.start_job(job)
    poll(lambda: pg.running(marker), 20, "the first execution on the target")
    second = jobs_host.start_job(job)

    later = jobs_host.wait_finished(second, timeout=20)
    assert later["lifecycle"] == "SucceededWithSkipped"
    ((skipped,),) = [s["targets"] for s in later["steps"]]
    assert skipped["lifecycle"] == "Skipped"
    assert first in skipped["last_message"]
    assert later["steps"][0]["lifecycle"] == "SucceededWithSkipped"
    # The skip happened while the first still ran, and did not disturb it.
    assert jobs_host.execution(first)["is_active"] is True
    earlier = jobs_host.wait_finished(first, timeout=20)
    assert earlier["lifecycle"] == "Succeeded"


def test_max_parallelism_bounds_connections_on_the_server(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    databases = [pg_database("parallel") for _ in range(5)]
    group = _group(jobs_host, *(pg.database_member(db) for db in databases))
    job = unique("parallel")
    command = (
        "SELECT clock_timestamp() AS started, pg_sleep(1)::text AS slept, "
        "clock_timestamp() AS ended"
    )
    jobs_host.put_job(
        job, [step("bounded", command, group, credential_name=PG_CREDENTIAL, max_parallelism=2)]
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            (count,) = pg.rows(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = ANY(%s)",
                pg.role,
                databases,
            )[0]
            peak = max(peak, int(count))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        execution = jobs_host.run_job(job, timeout=60)
    finally:
        stop.set()
        sampler.join(10)
    assert execution["lifecycle"] == "Succeeded"
    assert 1 <= peak <= 2, peak

    # The targets' own clocks agree: at most two scripts overlapped, and two did.
    spans = []
    for item in jobs_host.ok("GET", f"/api/executions/{execution['job_execution_id']}/output")[
        "items"
    ]:
        started, _slept, ended = item["result"]["rows"][0]
        spans.append((_parse(started), _parse(ended)))
    assert len(spans) == 5
    assert _max_overlap(spans) == 2


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _max_overlap(spans: list[tuple[dt.datetime, dt.datetime]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = best = 0
    for _, change in edges:
        running += change
        best = max(best, running)
    return best


def test_unbounded_step_runs_all_its_targets_at_once(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    # More targets than the Functions worker has threads (min(32, cores + 4)): the agent-wide
    # cap (SQLFLEET_MAX_CONCURRENT_TARGETS, 100) is what bounds them, not the worker.
    databases = [pg_database("wide") for _ in range(10)]
    group = _group(jobs_host, *(pg.database_member(db) for db in databases))
    job = unique("wide")
    command = (
        "SELECT clock_timestamp() AS started, pg_sleep(2)::text AS slept, "
        "clock_timestamp() AS ended"
    )
    jobs_host.put_job(job, [step("wide", command, group, credential_name=PG_CREDENTIAL)])
    execution = jobs_host.run_job(job, timeout=60)
    assert execution["lifecycle"] == "Succeeded"
    received = jobs_host.ok("GET", f"/api/executions/{execution['job_execution_id']}/output")
    spans = [
        (_parse(item["result"]["rows"][0][0]), _parse(item["result"]["rows"][0][2]))
        for item in received["items"]
    ]
    assert _max_overlap(spans) == 10
