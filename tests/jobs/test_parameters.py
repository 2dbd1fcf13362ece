"""Job parameters through the real host (issue 16): values become literals of each engine
(PostgreSQL, MariaDB, SQLite) that no quote or backslash escapes, numbers are checked, bad
values are a 422 naming the parameter, the execution records its values with the secret one
redacted everywhere, and the built-in variables have quoted forms."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import MARIADB_CREDENTIAL, PG_CREDENTIAL
from tests.jobs.fleet import MariaDbFleet, PostgresFleet, sqlite_folder_member, step, unique
from tests.jobs.host import JobsHost

# Quotes, a backslash before a quote, comment markers: as text, never as SQL.
HOSTILE = "b'); DROP TABLE victim; -- \\'; DROP TABLE victim; /*"
WEIRD_DATABASE = "b'); DROP TABLE victim; --"
DECLARED = [
    {"name": "who", "type": "string"},
    {"name": "n", "type": "int"},
    {"name": "price", "type": "decimal", "default": "12.50"},
    {"name": "flag", "type": "bool", "default": False},
    {"name": "at", "type": "datetime", "default": "2026-05-01T09:30:00+02:00"},
    {"name": "token", "type": "string", "secret": True},
]
COMMAND = (
    "CREATE TABLE victim (x int);\n"
    "SELECT $(who) AS who, $(n) + 1 AS n_plus_one, $(price) AS price, $(at) AS at_text,\n"
    "  CASE WHEN $(flag) THEN 'yes' ELSE 'no' END AS flag,\n"
    "  CASE WHEN LENGTH($(token)) = 36 THEN 'ok' ELSE 'no' END AS token_ok,\n"
    "  $(target_database_name_literal) AS db, '$(job_name)' AS job_text"
)


@pytest.fixture
def fleet(
    jobs_host: JobsHost,
    pg: PostgresFleet,
    pg_database: Callable[[str], str],
    mariadb: MariaDbFleet,
    tmp_path: Path,
) -> dict[str, Any]:
    folder = tmp_path / "lite"
    folder.mkdir()
    for name in ("plain", WEIRD_DATABASE):
        sqlite3.connect(folder / f"{name}.db").close()
    pg_db = pg_database("params")
    maria_db = mariadb.create_database(unique("params"))
    groups = {}
    for engine, member in (
        ("pg", pg.database_member(pg_db)),
        ("maria", mariadb.database_member(maria_db)),
        ("lite", sqlite_folder_member(folder)),
    ):
        groups[engine] = unique(f"params_{engine}")
        jobs_host.ok("PUT", f"/api/target-groups/{groups[engine]}", {"members": [member]})
    return {"groups": groups, "pg_db": pg_db, "maria_db": maria_db, "folder": folder}


def _job(host: JobsHost, fleet: dict[str, Any]) -> str:
    name = unique("params")
    groups = fleet["groups"]
    host.put_job(
        name,
        [
            step("pg", COMMAND, groups["pg"], credential_name=PG_CREDENTIAL),
            step("maria", COMMAND, groups["maria"], credential_name=MARIADB_CREDENTIAL),
            step("lite", COMMAND, groups["lite"]),
        ],
        parameters=DECLARED,
    )
    return name


def test_parameters_become_literals_of_each_engine_and_secrets_stay_hidden(
    jobs_host: JobsHost, fleet: dict[str, Any], pg: PostgresFleet, mariadb: MariaDbFleet
) -> None:
    token = f"tok-{uuid.uuid4().hex}"  # 36 characters, as the script checks
    name = _job(jobs_host, fleet)
    reply = jobs_host.call(
        "POST",
        f"/api/jobs/{name}/start",
        {"parameters": {"who": HOSTILE, "n": "41", "flag": True, "token": token}},
    )
    assert reply.status == 202, reply.body
    assert reply.body["parameters"]["token"] == "***"
    execution = jobs_host.wait_finished(reply.body["job_execution_id"])
    assert execution["lifecycle"] == "Succeeded", execution
    assert execution["parameters"] == {
        "who": HOSTILE, "n": "41", "price": "12.50", "flag": "true",
        "at": "2026-05-01 07:30:00.000000", "token": "***",
    }  # fmt: skip
    output = jobs_host.ok("GET", f"/api/executions/{execution['job_execution_id']}/output")
    rows = {
        (item["target"]["step_name"], item["target"]["target_database_name"]): dict(
            zip(
                [c["name"] for c in item["result"]["columns"]],
                item["result"]["rows"][0],
                strict=True,
            )
        )
        for item in output["items"]
    }
    assert set(rows) == {
        ("pg", fleet["pg_db"]), ("maria", fleet["maria_db"]),
        ("lite", "plain"), ("lite", WEIRD_DATABASE),
    }  # fmt: skip
    for (step_name, database), row in rows.items():
        assert row["who"] == HOSTILE, step_name
        assert int(row["n_plus_one"]) == 42 and float(row["price"]) == 12.5
        assert row["at_text"] == "2026-05-01 07:30:00.000000"
        assert row["flag"] == "yes" and row["token_ok"] == "ok"
        assert row["db"] == database and row["job_text"] == name
    # Nothing of the hostile text ran: every victim table is still there.
    assert "victim" in pg.tables(fleet["pg_db"])
    assert "victim" in mariadb.tables(fleet["maria_db"])
    for database in ("plain", WEIRD_DATABASE):
        with closing(sqlite3.connect(fleet["folder"] / f"{database}.db")) as connection:
            assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("victim",)]

    # The SQL that ran, as the monitoring page shows it: values in, the secret as '***'.
    script = jobs_host.ok(
        "GET", f"/api/executions/{execution['job_execution_id']}/steps/1/targets/0/script"
    )
    assert script["parameters"]["token"] == "***" and script["parameters"]["n"] == "41"
    assert "LENGTH($(token))" in script["command"]
    assert "LENGTH('***')" in script["script"] and "41 + 1" in script["script"]
    # The secret's value is in no answer and no byte the host keeps (job database, task hub,
    # log): it is encrypted in the job database and travels to the scripts only.
    secret = token.encode()
    for body in jobs_host.responses:
        assert secret not in body
    files = [p for p in jobs_host.data_dir.rglob("*") if p.is_file()]
    assert jobs_host.log_path in files
    for path in files:
        assert secret not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"n": 1, "token": "t"}, "parameters.who", "needs a value"),
        ({"who": "x", "n": 1, "token": "t", "nope": 1}, "parameters.nope", "declares no"),
        ({"who": "x", "n": "5x", "token": "t"}, "parameters.n", "expected an int"),
        ({"who": "x", "n": 1.5, "token": "t"}, "parameters.n", "expected an int"),
        ({"who": "x", "n": 1, "price": "1e5", "token": "t"}, "parameters.price", "decimal"),
        ({"who": "x", "n": 1, "flag": "maybe", "token": "t"}, "parameters.flag", "true or false"),
        ({"who": "x", "n": 1, "at": "yesterday", "token": "t"}, "parameters.at", "RFC 3339"),
        ({"who": 5, "n": 1, "token": "t"}, "parameters.who", "expected a string"),
    ],
)
def test_bad_values_are_a_422_naming_the_parameter(
    jobs_host: JobsHost, values: dict[str, Any], field: str, words: str
) -> None:
    name = unique("params_bad")
    group = unique("params_bad_group")
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": []})
    jobs_host.put_job(name, [step("s", "SELECT $(who)", group)], parameters=DECLARED)
    reply = jobs_host.call("POST", f"/api/jobs/{name}/start", {"parameters": values})
    assert reply.status == 422, reply.body
    assert reply.body["field"] == field and words in reply.body["message"]
    assert jobs_host.ok("GET", f"/api/executions?job_name={name}")["items"] == []


def test_declarations_are_checked_when_the_job_is_saved(jobs_host: JobsHost) -> None:
    name = unique("params_decl")
    cases = [
        ([{"name": "job_name"}], "parameters[0].name"),
        ([{"name": "x_literal"}], "parameters[0].name"),
        ([{"name": "bad name"}], "parameters.0.name"),
        ([{"name": "n", "type": "int", "default": "ten"}], "parameters[0].default"),
        ([{"name": "t", "secret": True, "default": "x"}], "parameters[0].default"),
        ([{"name": "a"}, {"name": "A"}], "parameters[1].name"),
    ]
    for declared, field in cases:
        reply = jobs_host.call("PUT", f"/api/jobs/{name}", {"parameters": declared})
        assert reply.status == 422, (declared, reply.body)
        assert reply.body["field"].replace("[", ".").replace("]", "") == field.replace(
            "[", "."
        ).replace("]", ""), reply.body
    # An enabled schedule starts the job without values: every parameter needs a default.
    reply = jobs_host.call(
        "PUT", f"/api/jobs/{name}", {"enabled": True, "parameters": [{"name": "who"}]}
    )
    assert reply.status == 422 and reply.body["field"] == "parameters[0].default"


def test_a_secret_value_echoed_by_the_engine_is_masked_before_it_is_stored(
    jobs_host: JobsHost, tmp_path: Path
) -> None:
    folder = tmp_path / "echo"
    folder.mkdir()
    sqlite3.connect(folder / "only.db").close()
    group = unique("echo_group")
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": [sqlite_folder_member(folder)]})
    name = unique("echo")
    jobs_host.put_job(
        name,
        [
            step("select", "SELECT $(token) AS token", group),
            step("echo", "SELECT * FROM $(token)", group),
        ],
        parameters=[{"name": "token", "secret": True}],
    )
    token = f"tok-{uuid.uuid4().hex}"
    reply = jobs_host.call("POST", f"/api/jobs/{name}/start", {"parameters": {"token": token}})
    assert reply.status == 202, reply.body
    execution = jobs_host.wait_finished(reply.body["job_execution_id"])
    assert [s["lifecycle"] for s in execution["steps"]] == ["Succeeded", "Failed"]
    (failed,) = execution["steps"][1]["targets"]
    assert "no such table" in failed["last_message"] and "***" in failed["last_message"]
    output = jobs_host.ok("GET", f"/api/executions/{execution['job_execution_id']}/output")
    assert output["items"][0]["result"]["rows"] == [["***"]]
    for body in jobs_host.responses:
        assert token.encode() not in body
    for path in jobs_host.data_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    # A rerun runs with the original's values.
    rerun = jobs_host.call("POST", f"/api/executions/{execution['job_execution_id']}/rerun")
    assert rerun.status == 202, rerun.body
    again = jobs_host.wait_finished(rerun.body["job_execution_id"])
    assert again["parameters"] == {"token": "***"}
    assert [s["lifecycle"] for s in again["steps"]] == ["Succeeded", "Failed"]
