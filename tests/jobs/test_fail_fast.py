"""Errors that cannot pass fail at once (issue 16 §5): each engine's permanent errors end a
target Failed after one attempt, saying why it was not retried; transient ones and errors of no
known class are retried with the step's backoff; ``retry_on: all`` retries everything."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.jobs.conftest import MARIADB_CREDENTIAL, PG_CREDENTIAL
from tests.jobs.fleet import MariaDbFleet, PostgresFleet, sqlite_folder_member, step, unique
from tests.jobs.host import JobsHost

OVERFLOW = "SELECT abs(-9223372036854775808)"
RETRIES = {"retry_attempts": 3, "initial_retry_interval_seconds": 1}


def _targets(
    host: JobsHost, group_members: list[dict[str, Any]], steps: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    group = unique("group")
    host.ok("PUT", f"/api/target-groups/{group}", {"members": group_members})
    job = unique("failfast")
    host.put_job(job, [{**s, "target_group_name": group} for s in steps])
    execution = host.run_job(job, timeout=60)
    return {s["step_name"]: s["targets"][0] for s in execution["steps"]}


def _failed_at_once(target: dict[str, Any], reason: str) -> None:
    assert target["lifecycle"] == "Failed", target
    assert target["current_attempts"] == 1, target
    message = target["last_message"]
    assert "not retried: a permanent error" in message and reason in message, message
    assert "retry_on" in message


def test_postgresql_errors_by_sqlstate(
    jobs_host: JobsHost, pg: PostgresFleet, pg_database: Callable[[str], str]
) -> None:
    database = pg_database("failfast")
    with pg.admin(database) as connection:
        connection.execute("CREATE SEQUENCE tries")
        connection.execute(f'ALTER SEQUENCE tries OWNER TO "{pg.role}"')
    serialization = (
        "DO $$ BEGIN IF nextval('tries') < 2 THEN "
        "RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END IF; END $$"
    )
    common = {"credential_name": PG_CREDENTIAL, "on_failure": "continue", **RETRIES}
    targets = _targets(
        jobs_host,
        [pg.database_member(database)],
        [
            step("syntax", "SELEC 1", "", **common),
            step("missing", "SELECT * FROM no_such_table", "", **common),
            step("data", "SELECT 1/0", "", **common),
            step("transient", serialization, "", **common),
            step("all", "SELEC 2", "", **{**common, "retry_attempts": 1, "retry_on": "all"}),
        ],
    )
    _failed_at_once(targets["syntax"], "SQLSTATE 42601")
    _failed_at_once(targets["missing"], "SQLSTATE 42P01")
    _failed_at_once(targets["data"], "SQLSTATE 22012")
    assert targets["transient"]["lifecycle"] == "Succeeded"
    assert targets["transient"]["current_attempts"] == 2
    assert targets["all"]["lifecycle"] == "Failed"
    assert targets["all"]["current_attempts"] == 2
    assert "not retried" not in targets["all"]["last_message"]
    gone = _targets(
        jobs_host,
        [pg.database_member(unique("no_such_database"))],
        [step("gone", "SELECT 1", "", **common)],
    )
    _failed_at_once(gone["gone"], "SQLSTATE 3D000")  # psqlODBC says 08001; the text tells


def test_mariadb_errors_by_number(jobs_host: JobsHost, mariadb: MariaDbFleet) -> None:
    granted = mariadb.create_database(unique("failfast"))
    refused = unique("nogrant")
    mariadb.execute(f"CREATE DATABASE `{refused}`")
    mariadb.databases.append(refused)
    common = {"credential_name": MARIADB_CREDENTIAL, "on_failure": "continue", **RETRIES}
    deadlock = "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'a deadlock'"
    members = [mariadb.database_member(granted)]
    targets = _targets(
        jobs_host,
        members,
        [
            step("syntax", "SELEC 1", "", **common),
            step("missing", "SELECT * FROM no_such_table", "", **common),
            step("deadlock", deadlock, "", **{**common, "retry_attempts": 1}),
        ],
    )
    _failed_at_once(targets["syntax"], "error 1064")
    _failed_at_once(targets["missing"], "error 1146")
    assert targets["deadlock"]["lifecycle"] == "Failed"
    assert targets["deadlock"]["current_attempts"] == 2  # retried: a deadlock may pass
    denied = _targets(
        jobs_host,
        [mariadb.database_member(refused)],
        [step("denied", "SELECT 1", "", **common)],
    )
    _failed_at_once(denied["denied"], "error 1044")


def test_sqlite_errors_by_code(jobs_host: JobsHost, tmp_path: Path) -> None:
    folder = tmp_path / "failfast"
    folder.mkdir()
    sqlite3.connect(folder / "one.db").close()
    common = {"on_failure": "continue", **RETRIES}
    targets = _targets(
        jobs_host,
        [sqlite_folder_member(folder)],
        [
            step("syntax", "SELEC 1", "", **common),
            step("missing", "SELECT * FROM no_such_table", "", **common),
            step(
                "overflow",
                "SELECT abs(-9223372036854775808)",
                "",
                **{**common, "retry_attempts": 1},
            ),
        ],
    )
    _failed_at_once(targets["syntax"], "syntax error (SQLITE_ERROR)")
    _failed_at_once(targets["missing"], "undefined object (SQLITE_ERROR)")
    # An error of no known class is retried, as Elastic Jobs retries every error.
    assert targets["overflow"]["current_attempts"] == 2
