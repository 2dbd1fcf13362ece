"""How one target ends on PostgreSQL: retried until it succeeds, Failed when unreachable,
TimedOut (with its statement cancelled on the server); and a big step on SQLite, whose targets
run in chunks and still retry one by one."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.bookkeeping import CHUNK_FROM, LOCAL_CHUNK_SIZE
from tests.jobs.conftest import PG_CREDENTIAL
from tests.jobs.fleet import PostgresFleet, sqlite_folder_member, step, unique
from tests.jobs.host import WEBHOOK, JobsHost, poll
from tests.support.servers import free_port


def _group(host: JobsHost, *members: dict[str, Any]) -> str:
    name = unique("group")
    host.ok("PUT", f"/api/target-groups/{name}", {"members": list(members)})
    return name


def _time(text: str | None) -> dt.datetime:
    assert text, "expected a time"
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def test_target_that_fails_twice_is_retried_with_backoff(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("retry")
    with pg.admin(database) as connection:
        # Sequences are not transactional: each attempt's nextval survives its failure.
        connection.execute("CREATE SEQUENCE attempts")
        connection.execute(f'ALTER SEQUENCE attempts OWNER TO "{pg.role}"')
    group = _group(jobs_host, pg.database_member(database))
    job = unique("retry")
    command = (
        "DO $$ BEGIN IF nextval('attempts') < 3 THEN "
        "RAISE EXCEPTION 'not ready on attempt %', currval('attempts'); END IF; END $$"
    )
    jobs_host.put_job(
        job,
        [
            step(
                "flaky",
                command,
                group,
                credential_name=PG_CREDENTIAL,
                retry_attempts=5,
                initial_retry_interval_seconds=1,
                maximum_retry_interval_seconds=60,
                retry_interval_backoff_multiplier=2.0,
            )
        ],
    )
    execution_id = jobs_host.start_job(job)
    seen: dict[tuple[int, str], dict[str, Any]] = {}

    def finished() -> bool:
        for target in jobs_host.targets(execution_id):  # none until the step expands
            seen.setdefault((target["current_attempts"], target["lifecycle"]), target)
        return not jobs_host.execution(execution_id)["is_active"]

    poll(finished, 60, "the retried execution", interval=0.05)
    (target,) = jobs_host.targets(execution_id)
    assert target["lifecycle"] == "Succeeded"
    assert target["current_attempts"] == 3
    assert target["next_attempt_start_time"] is None
    assert pg.rows(database, "SELECT last_value FROM attempts") == [(3,)]

    # Between attempts the target waited for its retry, and said when the next one starts:
    # about 1 s after attempt 1 failed, then about 2 s after attempt 2 (initial 1, multiplier 2).
    first_wait, second_wait = seen[(1, "WaitingForRetry")], seen[(2, "WaitingForRetry")]
    assert "not ready on attempt 1" in first_wait["last_message"]
    assert "not ready on attempt 2" in second_wait["last_message"]
    for wait, delay in ((first_wait, 1.0), (second_wait, 2.0)):
        waited = _time(wait["next_attempt_start_time"]) - _time(wait["current_attempt_start_time"])
        # The attempt's own run time lies in between (a few ms here, more on a busy machine).
        assert delay <= waited.total_seconds() < delay + 3, (delay, waited)
    # Each retry started no earlier than announced.
    second_start = _time(second_wait["current_attempt_start_time"])
    third_start = _time(target["current_attempt_start_time"])
    assert second_start >= _time(first_wait["next_attempt_start_time"]) - dt.timedelta(seconds=0.1)
    assert third_start >= _time(second_wait["next_attempt_start_time"]) - dt.timedelta(seconds=0.1)
    assert jobs_host.execution(execution_id)["lifecycle"] == "Succeeded"


def test_unreachable_target_fails_after_every_attempt(jobs_host: JobsHost) -> None:
    closed = free_port()
    member = {
        "target_type": "database",
        "engine": "postgresql",
        "server_name": "127.0.0.1",
        "port": closed,
        "database_name": "nowhere",
    }
    group = _group(jobs_host, member)
    job = unique("unreachable")
    jobs_host.put_job(
        job,
        [
            step(
                "connect",
                "SELECT 1",
                group,
                credential_name=PG_CREDENTIAL,
                retry_attempts=2,
                initial_retry_interval_seconds=1,
                maximum_retry_interval_seconds=1,
            )
        ],
    )
    execution = jobs_host.run_job(job, timeout=60)
    assert execution["lifecycle"] == "Failed"
    ((target,),) = [s["targets"] for s in execution["steps"]]
    assert target["lifecycle"] == "Failed"
    assert target["current_attempts"] == 3 == target["max_attempts"]
    message = target["last_message"]
    assert "connecting to postgresql '127.0.0.1'" in message
    assert "refused" in message.lower() or "could not connect" in message.lower(), message
    assert execution["steps"][0]["lifecycle"] == "Failed"


def test_statement_past_the_step_timeout_is_cancelled(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("timeout")
    marker = unique("sleepy")
    group = _group(jobs_host, pg.database_member(database))
    job = unique("timeout")
    jobs_host.put_job(
        job,
        [
            step(
                "sleep",
                f"SELECT pg_sleep(30) /* {marker} */",
                group,
                credential_name=PG_CREDENTIAL,
                step_timeout_seconds=2,
                retry_attempts=3,
            )
        ],
    )
    execution_id = jobs_host.start_job(job)
    poll(lambda: pg.running(marker), 20, "the sleeping statement on the server")
    execution = jobs_host.wait_finished(execution_id, timeout=20)
    assert execution["lifecycle"] == "TimedOut"
    ((target,),) = [s["targets"] for s in execution["steps"]]
    assert target["lifecycle"] == "TimedOut"
    assert target["current_attempts"] == 1  # a timeout is not retried
    assert "step timeout (2 s)" in target["last_message"]
    elapsed = _time(target["end_time"]) - _time(target["start_time"])
    assert 2 <= elapsed.total_seconds() < 10
    poll(lambda: not pg.running(marker), 10, "the cancelled statement to leave the server")


def test_retry_does_not_wait_for_slower_targets_of_its_batch(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    slow, flaky = pg_database("slow"), pg_database("flaky")
    with pg.admin(flaky) as connection:
        connection.execute("CREATE SEQUENCE attempts")
        connection.execute(f'ALTER SEQUENCE attempts OWNER TO "{pg.role}"')
    group = _group(jobs_host, pg.database_member(slow), pg.database_member(flaky))
    command = (
        "DO $$ BEGIN "
        "IF current_database() LIKE 'slow%' THEN PERFORM pg_sleep(6); "
        "ELSIF nextval('attempts') < 2 THEN RAISE EXCEPTION 'first attempt fails'; "
        "END IF; END $$"
    )
    job = unique("batch_retry")
    jobs_host.put_job(
        job,
        [
            step(
                "mixed",
                command,
                group,
                credential_name=PG_CREDENTIAL,
                retry_attempts=3,
                initial_retry_interval_seconds=1,
            )
        ],
    )
    execution = jobs_host.run_job(job, timeout=60)
    assert execution["lifecycle"] == "Succeeded"
    targets = {t["target_database_name"]: t for t in execution["steps"][0]["targets"]}
    assert targets[flaky]["current_attempts"] == 2
    assert targets[slow]["current_attempts"] == 1
    # The retry ran after its own 1 s delay, not after the 6 s neighbour finished.
    flaky_end, slow_end = _time(targets[flaky]["end_time"]), _time(targets[slow]["end_time"])
    assert (slow_end - flaky_end).total_seconds() > 2.5, (flaky_end, slow_end)


def test_a_big_step_runs_in_chunks_and_retries_each_target_on_its_own(
    jobs_host: JobsHost, tmp_path: Path
) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    flaky = {3, LOCAL_CHUNK_SIZE + 1, CHUNK_FROM - 1}
    for index in range(CHUNK_FROM):
        with contextlib.closing(sqlite3.connect(folder / f"db{index:04d}.db")) as database:
            # The gate refuses a flaky database's first mark: its first attempt fails.
            least = 2 if index in flaky else 1
            database.execute("CREATE TABLE marks (n integer)")
            database.execute(f"CREATE TABLE gate (n integer CHECK (n >= {least}))")
            database.commit()
    group = _group(jobs_host, sqlite_folder_member(folder))
    command = "INSERT INTO marks VALUES (1);\nINSERT INTO gate SELECT count(*) FROM marks"
    job = unique("big")
    jobs_host.put_job(job, [step("big", command, group, retry_attempts=2)])
    execution = jobs_host.run_job(job, timeout=180)

    assert execution["lifecycle"] == "Succeeded", execution["last_message"]
    targets = execution["steps"][0]["targets"]
    attempts = {int(t["target_database_name"][2:]): t["current_attempts"] for t in targets}
    assert {t["lifecycle"] for t in targets} == {"Succeeded"}
    assert attempts == {index: 2 if index in flaky else 1 for index in range(CHUNK_FROM)}
    # begin_execution ran the step itself, in chunks of LOCAL_CHUNK_SIZE at once (SQLite files
    # are local targets: activities.bookkeeping.QUICK_TARGETS), with no run_targets activity
    # or step_batch, and each flaky target got a retry lane of its own.
    execution_id = execution["job_execution_id"]
    history = jobs_host.ok(
        "GET", f"{WEBHOOK}/instances/{execution_id}?showHistory=true&showHistoryOutput=true"
    )
    done = [e for e in history["historyEvents"] if e["EventType"] == "TaskCompleted"]
    ran = [e["FunctionName"] for e in done]
    assert ran[0] == "begin_execution" and not {"run_targets", "run_target"} & set(ran), ran
    plan = done[0]["Result"]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert plan["first"]["targets"] == CHUNK_FROM and "ran" in plan, plan
    assert jobs_host.instances(f"{execution_id}:s1:b") == []
    lanes = {i["instanceId"] for i in jobs_host.instances(f"{execution_id}:s1:t")}
    assert lanes == {f"{execution_id}:s1:t{index}" for index in flaky}
    # Their scripts ran in the host's script processes (sqlfleet.scriptprocesses).
    assert jobs_host.process is not None
    assert _script_processes(jobs_host.process.pid), "the host started no script process"


def _script_processes(host_pid: int) -> list[int]:
    pids = []
    for children in Path(f"/proc/{host_pid}/task").glob("*/children"):
        for pid in children.read_text().split():
            with contextlib.suppress(FileNotFoundError):
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"sqlfleet.scriptprocesses" in command:
                    pids.append(int(pid))
    return pids
