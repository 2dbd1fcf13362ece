"""The password of the suite's logins appears in no byte the host keeps or says: not in the task
hub's SQLite files, the job database, the host's log output, or any HTTP response. Runs last
(see conftest), so it scans what every other test of the session left behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.jobs.conftest import PG_CREDENTIAL
from tests.jobs.fleet import SECRET, PostgresFleet, step, unique
from tests.jobs.host import JobsHost


def test_password_never_leaves_the_credential(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    # Make sure this session signed in with the password at least once, and failed once too
    # (error texts are where connection strings like to turn up).
    database = pg_database("secrets")
    group = unique("group")
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": [pg.database_member(database)]})
    job = unique("secrets")
    jobs_host.put_job(
        job,
        [
            step("ok", "SELECT current_user AS who", group, credential_name=PG_CREDENTIAL),
            step("fails", "SELECT * FROM nowhere", group, credential_name=PG_CREDENTIAL),
        ],
    )
    execution = jobs_host.run_job(job)
    assert execution["steps"][0]["lifecycle"] == "Succeeded"
    assert execution["steps"][1]["lifecycle"] == "Failed"
    received = jobs_host.ok("GET", f"/api/executions/{execution['job_execution_id']}/output")
    assert received["items"][0]["result"]["rows"] == [[pg.role]]
    credential = jobs_host.ok("GET", f"/api/credentials/{PG_CREDENTIAL}")
    assert credential["has_secret"] is True
    jobs_host.ok("GET", "/api/openapi.json")

    secret = SECRET.encode()
    files = [p for p in jobs_host.data_dir.rglob("*") if p.is_file()]
    hub_files = [p for p in files if p.parent == jobs_host.hub_dir and ".sqlite3" in p.name]
    assert hub_files, f"no task hub file under {jobs_host.hub_dir}"
    assert jobs_host.log_path in files
    for path in files:
        assert secret not in path.read_bytes(), f"the password is in {_relative(path, jobs_host)}"
    assert len(jobs_host.responses) >= 5
    for index, body in enumerate(jobs_host.responses):
        assert secret not in body, f"the password is in HTTP response #{index}"


def _relative(path: Path, host: JobsHost) -> str:
    return str(path.relative_to(host.data_dir))
