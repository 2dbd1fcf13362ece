"""The Elastic Jobs tutorial on PostgreSQL, through the local host over HTTP.

A server member covers every database of a (private) PostgreSQL cluster; a second group excludes
``db2``. Step 1 creates ``Step1Table`` everywhere, step 2 creates ``Step2Table`` everywhere but
``db2``.
"""

from __future__ import annotations

import datetime as dt

from tests.jobs.conftest import PRIVATE_PG_CREDENTIAL
from tests.jobs.fleet import PostgresFleet, step, unique
from tests.jobs.host import JobsHost


def test_tutorial_two_groups_two_steps(jobs_host: JobsHost, private_pg: PostgresFleet) -> None:
    suffix = unique("t").split("_")[1]
    db1 = private_pg.create_database(f"db1_{suffix}")
    db2 = private_pg.create_database(f"db2_{suffix}")
    everything = {db1, db2}  # the maintenance database postgres is no target, like master
    try:
        server = private_pg.server_member(PRIVATE_PG_CREDENTIAL)
        all_group, some_group = unique("all"), unique("not_db2")
        jobs_host.ok("PUT", f"/api/target-groups/{all_group}", {"members": [server]})
        jobs_host.ok(
            "PUT",
            f"/api/target-groups/{some_group}",
            {
                "members": [
                    server,
                    private_pg.database_member(db2, membership_type="exclude"),
                ]
            },
        )
        preview = jobs_host.ok("POST", f"/api/target-groups/{some_group}/preview")["items"]
        assert {t["database_name"] for t in preview} == everything - {db2}

        job = unique("tutorial")
        jobs_host.put_job(
            job,
            [
                step(
                    "create-step1",
                    "CREATE TABLE IF NOT EXISTS Step1Table (id int)",
                    all_group,
                    credential_name=PRIVATE_PG_CREDENTIAL,
                ),
                step(
                    "create-step2",
                    "CREATE TABLE IF NOT EXISTS Step2Table (id int)",
                    some_group,
                    credential_name=PRIVATE_PG_CREDENTIAL,
                ),
            ],
            description="Elastic Jobs tutorial",
        )
        started = dt.datetime.now(dt.timezone.utc)
        execution_id = jobs_host.start_job(job)
        execution = jobs_host.wait_finished(execution_id)

        assert private_pg.tables(db1) >= {"step1table", "step2table"}
        assert "step1table" in private_pg.tables(db2)
        assert "step2table" not in private_pg.tables(db2)

        assert execution["lifecycle"] == "Succeeded"
        assert execution["job_version"] == 1
        assert [s["lifecycle"] for s in execution["steps"]] == ["Succeeded", "Succeeded"]
        step1, step2 = execution["steps"]
        assert {t["target_database_name"] for t in step1["targets"]} == everything
        assert {t["target_database_name"] for t in step2["targets"]} == everything - {db2}
        for row in [execution, step1, step2, *step1["targets"], *step2["targets"]]:
            assert row["is_active"] is False
            assert row["start_time"] and row["end_time"]
            assert _time(row["start_time"]) >= started - dt.timedelta(seconds=5)
            assert _time(row["end_time"]) >= _time(row["start_time"])
        for target in step1["targets"] + step2["targets"]:
            assert target["lifecycle"] == "Succeeded"
            assert target["current_attempts"] == 1
            assert target["target_type"] == "server"
            assert target["target_server_name"] == private_pg.address.host
            assert target["target_group_name"] in (all_group, some_group)
        # Steps run in order: step 2 starts after every target of step 1 ended.
        assert min(_time(t["start_time"]) for t in step2["targets"]) >= max(
            _time(t["end_time"]) for t in step1["targets"]
        )
    finally:
        private_pg.drop_database(db1)
        private_pg.drop_database(db2)


def _time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
