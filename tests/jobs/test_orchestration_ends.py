"""An execution always ends, whatever becomes of its orchestration.

Terminated through the ``terminatePostUri`` that ``start`` answers, purged through its
``purgeHistoryDeleteUri``, or failed because a step's sub-orchestration was terminated: the
execution and its unfinished steps and targets end within seconds (``Canceled``, or ``Failed``
for the failure) with a message that says what happened, the scripts still running on the
targets are cancelled, and stop, remove and job delete then work without ``force``. The same
holds when the host is killed right after the terminate and started again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from cryptography.fernet import Fernet

from sqlfleet.durable.reconciliation import lane_end, orchestration_end
from sqlfleet.models import JobExecution
from tests.jobs.conftest import PG_CREDENTIAL
from tests.jobs.fleet import SECRET, PostgresFleet, step, unique
from tests.jobs.host import JobsHost, poll

# The reconciliation timer runs every five seconds; a pass takes milliseconds.
END_DEADLINE_SECONDS = 20
ENDED = {"Canceled", "Failed", "Skipped"}


def _sleeping_job(host: JobsHost, members: list[dict[str, Any]], marker: str, **first: Any) -> str:
    """A job whose first step (with ``first``'s fields) sleeps a minute on each member and
    whose second never starts before the first ends."""
    group = unique("ends")
    host.ok("PUT", f"/api/target-groups/{group}", {"members": members})
    job = unique("ends")
    sleep = f"SELECT pg_sleep(60) /* {marker} */"
    host.put_job(
        job,
        [
            step("sleep", sleep, group, credential_name=PG_CREDENTIAL, **first),
            step("after", "SELECT 1", group, credential_name=PG_CREDENTIAL),
        ],
    )
    return job


def _start(host: JobsHost, job: str) -> dict[str, Any]:
    reply = host.call("POST", f"/api/jobs/{quote(job)}/start")
    assert reply.status == 202, reply.body
    return dict(reply.body)


def _local(uri: str) -> str:
    """The path and query of a status URI (the test talks to the host it started)."""
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _terminate_uri(started: dict[str, Any], instance_id: str, reason: str) -> str:
    """The start answer's ``terminatePostUri``, for ``instance_id`` and ``reason``."""
    uri = _local(started["terminatePostUri"]).replace("{text}", quote(reason))
    own = quote(started["id"], safe="")
    return uri.replace(f"/instances/{own}/", f"/instances/{quote(instance_id, safe='')}/")


def _wait_ended(
    host: JobsHost, execution_id: str, since: float, timeout: float = END_DEADLINE_SECONDS
) -> tuple[dict[str, Any], float]:
    """The execution once it is no longer active, and how many seconds that took."""
    execution = host.wait_finished(execution_id, timeout=timeout)
    return execution, time.monotonic() - since


def _assert_ended(execution: dict[str, Any], lifecycle: str, message: str) -> None:
    assert (execution["lifecycle"], execution["last_message"]) == (lifecycle, message), execution
    for step_row in execution["steps"]:
        assert not step_row["is_active"] and step_row["lifecycle"] in ENDED, step_row
        for target in step_row["targets"]:
            assert not target["is_active"] and target["lifecycle"] in ENDED, target
    sleeping = execution["steps"][0]
    assert sleeping["targets"], "the first step expanded its targets"
    for target in sleeping["targets"]:
        assert (target["lifecycle"], target["last_message"]) == (lifecycle, message), target


def _then_stop_remove_and_delete_work(
    host: JobsHost, execution_id: str, job: str, lifecycle: str, *, remove: bool
) -> None:
    stopped = host.call("POST", f"/api/executions/{execution_id}/cancel")
    assert stopped.status == 202, stopped.body
    assert stopped.body["lifecycle"] == lifecycle and not stopped.body["is_active"]
    if remove:
        assert host.call("DELETE", f"/api/executions/{execution_id}").status == 204
        assert host.call("GET", f"/api/executions/{execution_id}").status == 404
    deleted = host.call("DELETE", f"/api/jobs/{quote(job)}")
    assert deleted.status == 204, deleted.body
    assert host.call("GET", f"/api/jobs/{quote(job)}").status == 404


def _running(pg: PostgresFleet, marker: str, count: int) -> Callable[[], bool]:
    return lambda: len(pg.running(marker)) == count


def test_terminated_orchestration_ends_its_execution_canceled(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    marker = unique("terminated")
    members = [pg.database_member(pg_database("terminated")) for _ in range(2)]
    job = _sleeping_job(jobs_host, members, marker)
    started = _start(jobs_host, job)
    execution_id = started["job_execution_id"]
    poll(_running(pg, marker, 2), 30, "both scripts running on the server")

    reason = "operator pulled the plug"
    since = time.monotonic()
    reply = jobs_host.call("POST", _terminate_uri(started, execution_id, reason))
    assert reply.status == 202, reply.body
    execution, seconds = _wait_ended(jobs_host, execution_id, since)
    print(f"terminated: the execution ended {seconds:.1f} s after the terminate")

    full = jobs_host.execution(execution_id)
    _assert_ended(full, "Canceled", f"the orchestration {execution_id} was terminated: {reason}")
    poll(_running(pg, marker, 0), 15, "the scripts to be cancelled on the server")
    _then_stop_remove_and_delete_work(jobs_host, execution_id, job, "Canceled", remove=False)


def test_purged_orchestration_ends_its_execution_at_stop(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    marker = unique("purged")
    job = _sleeping_job(jobs_host, [pg.database_member(pg_database("purged"))], marker)
    started = _start(jobs_host, job)
    execution_id = started["job_execution_id"]
    poll(_running(pg, marker, 1), 30, "the script running on the server")

    purged = jobs_host.call("DELETE", _local(started["purgeHistoryDeleteUri"]))
    assert purged.status == 200 and purged.body["instancesDeleted"] == 1, purged.body
    # Stop asks the task hub itself: the execution ends in its answer, timer or no timer.
    stopped = jobs_host.call("POST", f"/api/executions/{execution_id}/cancel")
    assert stopped.status == 202, stopped.body
    gone = f"the orchestration {execution_id} is gone from the task hub (purged)"
    assert (stopped.body["lifecycle"], stopped.body["last_message"]) == ("Canceled", gone)

    _assert_ended(jobs_host.execution(execution_id), "Canceled", gone)
    poll(_running(pg, marker, 0), 15, "the script to be cancelled on the server")
    _then_stop_remove_and_delete_work(jobs_host, execution_id, job, "Canceled", remove=True)


def test_purged_orchestration_ends_its_execution_unasked(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    marker = unique("purged_unasked")
    job = _sleeping_job(jobs_host, [pg.database_member(pg_database("unasked"))], marker)
    started = _start(jobs_host, job)
    execution_id = started["job_execution_id"]
    poll(_running(pg, marker, 1), 30, "the script running on the server")

    since = time.monotonic()
    purged = jobs_host.call("DELETE", _local(started["purgeHistoryDeleteUri"]))
    assert purged.status == 200, purged.body
    execution, seconds = _wait_ended(jobs_host, execution_id, since)
    print(f"purged: the execution ended {seconds:.1f} s after the purge")
    gone = f"the orchestration {execution_id} is gone from the task hub (purged)"
    _assert_ended(jobs_host.execution(execution_id), "Canceled", gone)
    _then_stop_remove_and_delete_work(jobs_host, execution_id, job, "Canceled", remove=True)


def test_terminated_sub_orchestration_fails_its_execution(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    marker = unique("child")
    members = [pg.database_member(pg_database("child"))]
    # One lane: a sub-orchestration of the execution (a small step without a bound on its
    # parallelism runs in the execution's own orchestration, which has no child to kill).
    job = _sleeping_job(jobs_host, members, marker, max_parallelism=1)
    started = _start(jobs_host, job)
    execution_id = started["job_execution_id"]
    poll(_running(pg, marker, 1), 30, "the script running on the server")
    (batch,) = [i["instanceId"] for i in jobs_host.instances(f"{execution_id}:s1:")]

    since = time.monotonic()
    reason = "killed one lane"
    reply = jobs_host.call("POST", _terminate_uri(started, batch, reason))
    assert reply.status == 202, reply.body
    execution, seconds = _wait_ended(jobs_host, execution_id, since)
    print(f"sub-orchestration terminated: the execution ended {seconds:.1f} s after")

    failure = f"the orchestration {batch} of step 1 failed: {reason}"
    full = jobs_host.execution(execution_id)
    assert (full["lifecycle"], full["last_message"]) == ("Failed", failure), full
    first, second = full["steps"]
    assert (first["lifecycle"], first["last_message"]) == ("Failed", failure), first
    assert [t["lifecycle"] for t in first["targets"]] == ["Failed"]
    assert [t["last_message"] for t in first["targets"]] == [failure], first["targets"]
    assert second["lifecycle"] == "Skipped", second
    poll(_running(pg, marker, 0), 15, "the script to be cancelled on the server")
    status = jobs_host.call("GET", _local(started["statusQueryGetUri"])).body
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["lifecycle"] == "Failed", status
    _then_stop_remove_and_delete_work(jobs_host, execution_id, job, "Failed", remove=True)


def test_terminated_execution_ends_after_a_host_restart(
    tmp_path: Path, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    env = {
        "SQLFLEET_DATA_DIR": str(tmp_path / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
    }
    host = JobsHost.start(tmp_path, env)
    try:
        host.ok(
            "PUT",
            f"/api/credentials/{PG_CREDENTIAL}",
            {"kind": "password", "username": pg.role, "password": SECRET},
        )
        marker = unique("restart")
        members = [pg.database_member(pg_database("restart")) for _ in range(2)]
        job = _sleeping_job(host, members, marker)
        started = _start(host, job)
        execution_id = started["job_execution_id"]
        poll(_running(pg, marker, 2), 30, "both scripts running on the server")

        reason = "terminated just before a crash"
        reply = host.call("POST", _terminate_uri(started, execution_id, reason))
        assert reply.status == 202, reply.body
        assert host.process is not None
        host.process.kill()  # at once: the next reconciliation pass is this host's
        host.process.wait(30)
        since = time.monotonic()
        host.restart()
        execution, seconds = _wait_ended(host, execution_id, since)
        print(f"restart: the execution ended {seconds:.1f} s after the host was started again")

        message = f"the orchestration {execution_id} was terminated: {reason}"
        _assert_ended(host.execution(execution_id), "Canceled", message)
        _then_stop_remove_and_delete_work(host, execution_id, job, "Canceled", remove=True)
    finally:
        host.stop()


@pytest.mark.parametrize("remove_first", [True, False])
def test_remove_and_job_delete_end_an_orphan_themselves(
    jobs_host: JobsHost,
    pg: PostgresFleet,
    pg_database: Callable[[str], str],
    remove_first: bool,
) -> None:
    marker = unique("orphan")
    job = _sleeping_job(jobs_host, [pg.database_member(pg_database("orphan"))], marker)
    started = _start(jobs_host, job)
    execution_id = started["job_execution_id"]
    poll(_running(pg, marker, 1), 30, "the script running on the server")
    assert jobs_host.call("DELETE", _local(started["purgeHistoryDeleteUri"])).status == 200
    if remove_first:
        assert jobs_host.call("DELETE", f"/api/executions/{execution_id}").status == 204
    deleted = jobs_host.call("DELETE", f"/api/jobs/{quote(job)}")
    assert deleted.status == 204, deleted.body
    assert jobs_host.call("GET", f"/api/executions/{execution_id}").status == 404
    poll(_running(pg, marker, 0), 15, "the script to be cancelled on the server")


NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def _status(runtime: str | None, output: Any = None) -> DurableOrchestrationStatus:
    """The durable client's answer: ``runtime`` None is its answer for an unknown instance."""
    if runtime is None:
        return DurableOrchestrationStatus()
    return DurableOrchestrationStatus(
        instanceId="x", createdTime="2030-06-01T11:00:00Z", runtimeStatus=runtime, output=output
    )


def _execution(lifecycle: str, age_seconds: float) -> JobExecution:
    return JobExecution.model_validate(
        {
            "job_execution_id": "x",
            "job_name": "j",
            "job_id": "i",
            "job_version": 1,
            "step_id": None,
            "step_name": None,
            "is_active": True,
            "lifecycle": lifecycle,
            "create_time": NOW - dt.timedelta(seconds=age_seconds),
            "start_time": None,
            "end_time": None,
            "current_attempts": 0,
            "current_attempt_start_time": None,
            "next_attempt_start_time": None,
            "last_message": None,
            "target_type": None,
            "target_id": None,
            "target_group_name": None,
            "target_server_name": None,
            "target_database_name": None,
        }
    )


@pytest.mark.parametrize(
    ("lifecycle", "age", "runtime", "output", "expected"),
    [
        ("InProgress", 99, "Running", None, None),
        ("InProgress", 99, "Pending", None, None),
        ("InProgress", 99, "Suspended", None, None),
        ("InProgress", 99, "ContinuedAsNew", None, None),
        ("InProgress", 1, "Terminated", "why\nmore", ("Canceled", "x was terminated: why")),
        ("InProgress", 1, "Terminated", None, ("Canceled", "x was terminated (no reason")),
        ("InProgress", 1, "Failed", "Boom: it broke\n at", ("Failed", "x failed: Boom: it broke")),
        ("InProgress", 1, "Completed", "{}", ("Failed", "x completed without ending")),
        ("InProgress", 1, None, None, ("Canceled", "x is gone from the task hub (purged)")),
        ("WaitingForRetry", 1, None, None, ("Canceled", "x is gone from the task hub")),
        # A start writes its execution before it starts the orchestration.
        ("Created", 29, None, None, None),
        ("Created", 31, None, None, ("Canceled", "x was never started")),
        ("Created", 1, "Terminated", "r", ("Canceled", "x was terminated: r")),
    ],
)
def test_orchestration_end_table(
    lifecycle: str, age: float, runtime: str | None, output: Any, expected: Any
) -> None:
    end = orchestration_end(_execution(lifecycle, age), "x", _status(runtime, output), NOW)
    if expected is None:
        assert end is None
    else:
        assert end is not None
        assert end.lifecycle.value == expected[0]
        assert end.message.startswith(f"the orchestration {expected[1]}"), end.message
        assert "\n" not in end.message


def test_stop_needs_no_grace() -> None:
    end = orchestration_end(_execution("Created", 0), "x", _status(None), NOW, dt.timedelta(0))
    assert end is not None and end.lifecycle.value == "Canceled"


def test_job_deleted_with_force_stops_its_running_execution(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    marker = unique("forced")
    job = _sleeping_job(jobs_host, [pg.database_member(pg_database("forced"))], marker)
    started = _start(jobs_host, job)
    poll(_running(pg, marker, 1), 30, "the script running on the server")
    assert jobs_host.call("DELETE", f"/api/jobs/{quote(job)}").status == 409
    assert jobs_host.call("DELETE", f"/api/jobs/{quote(job)}?force=true").status == 204

    def terminated() -> dict[str, Any] | None:
        status = jobs_host.call("GET", _local(started["statusQueryGetUri"])).body
        return status if status["runtimeStatus"] == "Terminated" else None

    status = poll(terminated, END_DEADLINE_SECONDS, "the orchestration to be terminated")
    assert status["output"] == "its job was deleted with force"
    poll(_running(pg, marker, 0), 15, "the script to be cancelled on the server")


# A retry lane is looked at once its target's retry is this overdue (SQLFLEET_OVERDUE_RETRY_SECONDS,
# 10 by default): on a host of its own, so no other test's lanes are looked at this early.
LANE_OVERDUE_SECONDS = 1
# Long enough for the test to terminate the lane before its timer fires.
LANE_RETRY_SECONDS = 5


def test_terminated_retry_lane_fails_its_target_and_lets_the_step_end(
    tmp_path: Path, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    env = {
        "SQLFLEET_DATA_DIR": str(tmp_path / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
        "SQLFLEET_OVERDUE_RETRY_SECONDS": str(LANE_OVERDUE_SECONDS),
    }
    host = JobsHost.start(tmp_path, env)
    try:
        _terminate_a_retry_lane(host, pg, pg_database)
    finally:
        host.stop()


def _terminate_a_retry_lane(
    host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    host.ok(
        "PUT",
        f"/api/credentials/{PG_CREDENTIAL}",
        {"kind": "password", "username": pg.role, "password": SECRET},
    )
    group = unique("lane")
    member = pg.database_member(pg_database("lane"))
    host.ok("PUT", f"/api/target-groups/{group}", {"members": [member]})
    job = unique("lane")
    retrying = step(
        "fails",
        # An error of the script's own (retried; a division by zero would fail at once).
        "DO $$ BEGIN RAISE EXCEPTION 'not yet'; END $$",
        group,
        credential_name=PG_CREDENTIAL,
        retry_attempts=3,
        initial_retry_interval_seconds=LANE_RETRY_SECONDS,
        maximum_retry_interval_seconds=LANE_RETRY_SECONDS,
    )
    host.put_job(job, [retrying])
    started = _start(host, job)
    execution_id = started["job_execution_id"]
    poll(
        lambda: [t["lifecycle"] for t in host.targets(execution_id)] == ["WaitingForRetry"],
        30,
        "the target to wait for its retry",
    )
    lane = f"{execution_id}:s1:t0"
    # The attempt records the wait, then starts the lane: give it that moment.
    poll(
        lambda: [i["instanceId"] for i in host.instances(lane)] == [lane],
        10,
        "the target's retry lane to start",
    )

    since = time.monotonic()
    reason = "stray lane"
    reply = host.call("POST", _terminate_uri(started, lane, reason))
    assert reply.status == 202, reply.body
    # The lane would have retried after LANE_RETRY_SECONDS; it is looked at once
    # LANE_OVERDUE_SECONDS overdue, by the next reconciliation pass (every five seconds).
    execution, seconds = _wait_ended(host, execution_id, since, timeout=45)
    print(f"retry lane terminated: the execution ended {seconds:.1f} s after")

    message = f"the orchestration {lane} that retries this target was terminated: {reason}"
    (target,) = host.targets(execution_id)
    assert (target["lifecycle"], target["last_message"]) == ("Failed", message), target
    assert target["current_attempts"] == 1
    assert execution["lifecycle"] == "Failed" and execution["steps"][0]["lifecycle"] == "Failed"
    _then_stop_remove_and_delete_work(host, execution_id, job, "Failed", remove=True)


@pytest.mark.parametrize(
    ("runtime", "output", "expected"),
    [
        ("Running", None, None),
        ("Pending", None, None),
        ("Terminated", "why", "L that retries this target was terminated: why"),
        ("Failed", "bad\nmore", "L that retries this target ended (Failed) without ending it: bad"),
        (None, None, "L that retries this target is gone from the task hub (purged)"),
    ],
)
def test_lane_end_table(runtime: str | None, output: Any, expected: str | None) -> None:
    end = lane_end("L", _status(runtime, output))
    assert end == (None if expected is None else f"the orchestration {expected}")
