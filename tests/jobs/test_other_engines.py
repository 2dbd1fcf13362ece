"""The same basic job on MariaDB (a database member, password sign-in) and on SQLite (a folder of
``*.db`` files as a server member, with an output table in one of them)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.jobs.conftest import MARIADB_CREDENTIAL
from tests.jobs.fleet import MariaDbFleet, sqlite_folder_member, step, unique
from tests.jobs.host import JobsHost

BASIC = "CREATE TABLE IF NOT EXISTS fleet_basic (id int); INSERT INTO fleet_basic VALUES (7)"


@pytest.mark.mariadb
def test_basic_job_on_mariadb(jobs_host: JobsHost, mariadb: MariaDbFleet) -> None:
    databases = [mariadb.create_database(unique("fleet_maria")) for _ in range(2)]
    group = unique("maria")
    jobs_host.ok(
        "PUT",
        f"/api/target-groups/{group}",
        {"members": [mariadb.database_member(db) for db in databases]},
    )
    job = unique("maria_job")
    command = BASIC + "; SELECT DATABASE() AS db, COUNT(*) AS n FROM fleet_basic"
    jobs_host.put_job(job, [step("basic", command, group, credential_name=MARIADB_CREDENTIAL)])
    execution = jobs_host.run_job(job)
    assert execution["lifecycle"] == "Succeeded", execution
    targets = execution["steps"][0]["targets"]
    assert {t["target_database_name"] for t in targets} == set(databases)
    assert {t["lifecycle"] for t in targets} == {"Succeeded"}
    for database in databases:
        assert "fleet_basic" in mariadb.tables(database)
        assert mariadb.execute(f"SELECT id FROM `{database}`.fleet_basic") == [(7,)]
    received = jobs_host.ok("GET", f"/api/executions/{execution['job_execution_id']}/output")
    assert sorted(item["result"]["rows"][0][0] for item in received["items"]) == sorted(databases)


def test_basic_job_on_a_folder_of_sqlite_files(jobs_host: JobsHost, tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    folder.mkdir()
    names = ["alpha", "beta", "gamma"]
    for name in names:
        sqlite3.connect(folder / f"{name}.db").close()
    (folder / "notes.txt").write_text("not a database")
    sink = tmp_path / "sink.db"
    sqlite3.connect(sink).close()

    group = unique("sqlite")
    jobs_host.ok(
        "PUT",
        f"/api/target-groups/{group}",
        {
            "members": [
                sqlite_folder_member(folder),
                {
                    "membership_type": "exclude",
                    "target_type": "database",
                    "engine": "sqlite",
                    "server_name": str(folder),
                    "database_name": "gamma",
                },
            ]
        },
    )
    output = {
        "engine": "sqlite",
        "server_name": str(tmp_path),
        "database_name": "sink",
        "table_name": "counts",
    }
    job = unique("sqlite_job")
    command = BASIC + "; SELECT '$(target_database_name)' AS db, COUNT(*) AS n FROM fleet_basic"
    jobs_host.put_job(job, [step("basic", command, group, output=output)])
    execution = jobs_host.run_job(job)
    assert execution["lifecycle"] == "Succeeded", execution
    targets = execution["steps"][0]["targets"]
    assert [t["target_database_name"] for t in targets] == ["alpha", "beta"]

    for name in ["alpha", "beta"]:
        with closing(sqlite3.connect(folder / f"{name}.db")) as connection:
            assert connection.execute("SELECT id FROM fleet_basic").fetchall() == [(7,)]
    with closing(sqlite3.connect(folder / "gamma.db")) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []
    with closing(sqlite3.connect(sink)) as connection:
        rows = connection.execute(
            "SELECT db, n, internal_execution_id FROM counts ORDER BY db"
        ).fetchall()
    assert rows == [
        ("alpha", 1, execution["job_execution_id"]),
        ("beta", 1, execution["job_execution_id"]),
    ]
