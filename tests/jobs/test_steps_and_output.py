"""What a step leaves behind and how steps follow each other: output tables, messages,
``on_failure``, and the job version an execution runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.jobs.conftest import PG_CREDENTIAL
from tests.jobs.fleet import PostgresFleet, step, unique
from tests.jobs.host import JobsHost, poll


def _group(host: JobsHost, *members: dict[str, Any]) -> str:
    name = unique("group")
    host.ok("PUT", f"/api/target-groups/{name}", {"members": list(members)})
    return name


def test_first_result_set_lands_in_the_output_table_and_messages_are_kept(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    # Several targets create the output table at the same moment: the race must be harmless.
    targets = [pg_database("out_target") for _ in range(4)]
    sink = pg_database("out_sink")
    group = _group(jobs_host, *(pg.database_member(db) for db in targets))
    command = (
        "DO $$ BEGIN RAISE NOTICE 'hello from %', current_database(); END $$; "
        "SELECT current_database() AS db, 42 AS answer, '$(job_execution_id)' AS execution "
        "UNION ALL SELECT current_database(), 43, 'second row'; "
        "SELECT 'a second result set is not kept' AS ignored"
    )
    output = {
        "engine": "postgresql",
        "server_name": pg.address.host,
        "port": pg.address.port,
        "database_name": sink,
        "table_name": "Fleet Results",
        "credential_name": PG_CREDENTIAL,
    }
    job = unique("output")
    jobs_host.put_job(
        job, [step("collect", command, group, credential_name=PG_CREDENTIAL, output=output)]
    )
    execution_id = jobs_host.start_job(job)
    execution = jobs_host.wait_finished(execution_id)
    assert execution["lifecycle"] == "Succeeded", execution

    rows = pg.rows(
        sink,
        'SELECT db, answer, execution, internal_execution_id::text FROM public."Fleet Results" '
        "ORDER BY db, answer",
    )
    expected = sorted(
        (db, answer, text, execution_id)
        for db in targets
        for answer, text in ((42, execution_id), (43, "second row"))
    )
    assert rows == expected
    indexes = pg.rows(
        sink,
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s",
        "Fleet Results",
    )
    assert any("internal_execution_id" in definition for (definition,) in indexes), indexes

    received = jobs_host.ok("GET", f"/api/executions/{execution_id}/output")["items"]
    assert len(received) == len(targets)
    by_database = {item["target"]["target_database_name"]: item for item in received}
    for database in targets:
        item = by_database[database]
        assert [m["message"] for m in item["messages"]] == [f"NOTICE: hello from {database}"]
        assert item["messages"][0]["attempt"] == 1
        assert [c["name"] for c in item["result"]["columns"]] == ["db", "answer", "execution"]
        assert item["result"]["rows"] == [
            [database, 42, execution_id],
            [database, 43, "second row"],
        ]
        assert item["result"]["truncated"] is False
    one = jobs_host.ok("GET", f"/api/executions/{execution_id}/steps/1/targets/0/output")
    assert one["target"]["target_ordinal"] == 0
    assert one["messages"][0]["message"].startswith("NOTICE: hello from ")


def _flow_job(
    host: JobsHost, pg: PostgresFleet, database: str, on_failure: str
) -> tuple[str, dict[str, Any]]:
    group = _group(host, pg.database_member(database))
    job = unique(f"flow_{on_failure}")
    host.put_job(
        job,
        [
            step(
                "breaks",
                "SELECT 1/0",
                group,
                credential_name=PG_CREDENTIAL,
                on_failure=on_failure,
            ),
            step(
                "after",
                f"CREATE TABLE after_{on_failure} (id int)",
                group,
                credential_name=PG_CREDENTIAL,
            ),
        ],
    )
    return job, host.run_job(job)


def test_on_failure_fail_stops_the_job(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("flow_fail")
    _job, execution = _flow_job(jobs_host, pg, database, "fail")
    assert execution["lifecycle"] == "Failed"
    first, second = execution["steps"]
    assert first["lifecycle"] == "Failed"
    assert "division by zero" in first["targets"][0]["last_message"]
    assert second["lifecycle"] == "Skipped"
    assert second["targets"] == []
    assert "after_fail" not in pg.tables(database)


def test_on_failure_continue_runs_the_next_step(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("flow_continue")
    _job, execution = _flow_job(jobs_host, pg, database, "continue")
    first, second = execution["steps"]
    assert first["lifecycle"] == "Failed"
    assert second["lifecycle"] == "Succeeded"
    assert "after_continue" in pg.tables(database)
    # The job's outcome never hides a failed step.
    assert execution["lifecycle"] == "Failed"


def test_execution_runs_the_version_current_at_start(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("versions")
    marker = unique("v1")
    group = _group(jobs_host, pg.database_member(database))
    job = unique("versions")

    def version_step(text: str, seconds: int) -> dict[str, Any]:
        command = f"SELECT '{text}' AS version FROM pg_sleep({seconds}) /* {marker} */"
        return step("which", command, group, credential_name=PG_CREDENTIAL)

    # The first runs long enough to be changed under; the second need not wait at all.
    jobs_host.put_job(job, [version_step("one", 4)])
    first = jobs_host.start_job(job)
    poll(lambda: pg.running(marker), 20, "the first version running")
    changed = jobs_host.put_job(job, [version_step("two", 0)])
    assert changed["job_version"] == 2
    assert jobs_host.execution(first)["is_active"] is True  # changed while it runs

    execution = jobs_host.wait_finished(first)
    assert execution["job_version"] == 1
    received = jobs_host.ok("GET", f"/api/executions/{first}/output")["items"]
    assert received[0]["result"]["rows"] == [["one"]]

    second = jobs_host.run_job(job)
    assert second["job_version"] == 2
    received = jobs_host.ok("GET", f"/api/executions/{second['job_execution_id']}/output")
    assert received["items"][0]["result"]["rows"] == [["two"]]
