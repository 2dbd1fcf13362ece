"""``WaitingForChildJobExecutions`` (issue 16 §6): while a step's targets run, the step and its
job show it, as in Elastic Jobs; the CLI shows it too, and both end as their targets do."""

from __future__ import annotations

from collections.abc import Callable

from tests.jobs.conftest import PG_CREDENTIAL
from tests.jobs.fleet import PostgresFleet, step, unique
from tests.jobs.host import JobsHost, poll

WAITING = "WaitingForChildJobExecutions"


def test_job_and_step_wait_for_their_targets(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("children")
    marker = unique("children")
    group = unique("group")
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": [pg.database_member(database)]})
    job = unique("children")
    command = f"SELECT pg_sleep(30) /* {marker} */"
    jobs_host.put_job(job, [step("sleep", command, group, credential_name=PG_CREDENTIAL)])
    execution_id = jobs_host.start_job(job)
    poll(lambda: pg.running(marker), 20, "the target's statement on the server")
    execution = jobs_host.execution(execution_id)
    ((target,),) = [s["targets"] for s in execution["steps"]]
    assert target["lifecycle"] == "InProgress"
    assert execution["steps"][0]["lifecycle"] == WAITING
    assert execution["lifecycle"] == WAITING and execution["is_active"]
    assert execution["steps"][0]["start_time"] and execution["start_time"]
    shown = jobs_host.cli("get", execution_id)
    assert shown.returncode == 0, shown.stderr
    assert WAITING in shown.stdout
    listed = jobs_host.cli("executions", "--job-name", job)
    assert WAITING in listed.stdout, listed.stdout
    jobs_host.ok("POST", f"/api/executions/{execution_id}/cancel")
    ended = jobs_host.wait_finished(execution_id, timeout=30)
    assert ended["lifecycle"] == "Canceled"
    assert ended["steps"][0]["lifecycle"] == "Canceled"
