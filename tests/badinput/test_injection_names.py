"""SQL injection attempts in every name field, through the API and through a fleet file.

Each hostile name is either refused (4xx naming the field) or stored verbatim: every document
reads back with exactly the text that was sent, and the job database keeps all its tables and
the objects that were there before. ``test_injection_runs.py`` proves that the stored names
are later quoted safely on real target servers.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from sqlfleet.fleetfile import parse_fleet
from tests.badinput.conftest import JobDatabase
from tests.jobs.host import JobsHost

# Each is made unique by a suffix, which keeps the attack intact (a trailing comment eats it).
HOSTILE_NAMES = (
    "x'; DROP TABLE jobs; --",
    'x"; DROP TABLE credentials; --',
    "x]; DELETE FROM target_groups; --",
    "x`; DROP DATABASE main; --",
    "x' OR '1'='1' --",
    "Robert'); DROP TABLE job_versions;--",
    "x' UNION SELECT secret_ciphertext FROM credentials --",
    "$(job_execution_id)'; --",
    "x'||(SELECT sqlite_version())||'",
)
PASSWORD = f"Inj-Pw-{uuid.uuid4().hex}"


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def path(*segments: str) -> str:
    return "/api/" + "/".join(quote(segment, safe="") for segment in segments)


@pytest.fixture(scope="module")
def sentinel(badinput_host: JobsHost) -> dict[str, Any]:
    """Objects made before any attack; they must survive all of them unchanged."""
    name = unique("sentinel")
    host = badinput_host
    credential = host.ok(
        "PUT", path("credentials", name), {"kind": "password", "username": "u", "password": "p"}
    )
    group = host.ok(
        "PUT",
        path("target-groups", name),
        {"members": [{"target_type": "database", "server_name": "s", "database_name": "d"}]},
    )
    job = host.ok(
        "PUT",
        path("jobs", name),
        {"steps": [{"command": "SELECT 1", "target_group_name": name, "credential_name": name}]},
    )
    return {"name": name, "credential": credential, "group": group, "job": job}


def assert_untouched(host: JobsHost, database: JobDatabase, sentinel: dict[str, Any]) -> None:
    name = sentinel["name"]
    assert host.ok("GET", path("credentials", name)) == sentinel["credential"]
    assert host.ok("GET", path("target-groups", name)) == sentinel["group"]
    assert host.ok("GET", path("jobs", name)) == sentinel["job"]
    connection = sqlite3.connect(f"file:{database.path}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    finally:
        connection.close()
    for table in ("credentials", "target_groups", "target_group_members", "jobs", "job_versions"):
        assert table in tables, f"table {table} is gone"


def documents_named(hostile: str) -> dict[str, Any]:
    """A credential, a target group and a job that carry ``hostile`` in every name field."""
    member_base = {"server_name": hostile, "refresh_credential_name": hostile}
    output = {
        "server_name": hostile,
        "database_name": hostile,
        "schema_name": hostile,
        "table_name": hostile,
        "credential_name": hostile,
    }
    return {
        "credential": {"kind": "password", "username": hostile, "password": PASSWORD},
        "group": {
            "description": hostile,
            "members": [
                {"target_type": "database", "server_name": hostile, "database_name": hostile},
                {"target_type": "server", **member_base},
                {"target_type": "elasticPool", "elastic_pool_name": hostile, **member_base},
            ],
        },
        "job": {
            "description": hostile,
            "steps": [
                {
                    "step_name": hostile,
                    "command": f"SELECT '{hostile}'",
                    "credential_name": hostile,
                    "target_group_name": hostile,
                    "output": output,
                }
            ],
        },
    }


@pytest.mark.parametrize("attack", HOSTILE_NAMES)
def test_hostile_names_are_stored_verbatim_everywhere(
    badinput_host: JobsHost, job_database: JobDatabase, sentinel: dict[str, Any], attack: str
) -> None:
    host, hostile = badinput_host, unique(attack)
    sent = documents_named(hostile)
    credential = host.ok("PUT", path("credentials", hostile), sent["credential"])
    assert (credential["name"], credential["username"]) == (hostile, hostile)
    group = host.ok("PUT", path("target-groups", hostile), sent["group"])
    assert group["name"] == hostile and group["description"] == hostile
    for member, wanted in zip(group["members"], sent["group"]["members"], strict=True):
        assert {key: member[key] for key in wanted} == wanted
    job = host.ok("PUT", path("jobs", hostile), sent["job"])
    step = job["steps"][0]
    assert (job["name"], step["step_name"], step["command"]) == (
        hostile,
        hostile,
        f"SELECT '{hostile}'",
    )
    assert (step["credential_name"], step["target_group_name"]) == (hostile, hostile)
    wanted_output = sent["job"]["steps"][0]["output"]
    assert {key: step["output"][key] for key in wanted_output} == wanted_output

    # The same names through the other write paths: a member by POST, steps by POST, by PUT
    # on a name in the URL, and renamed by PATCH.
    added = host.ok(
        "POST",
        path("target-groups", hostile, "members"),
        {"target_type": "database", "server_name": hostile, "database_name": hostile + "2"},
    )
    assert added["database_name"] == hostile + "2"
    second = host.ok(
        "POST",
        path("jobs", hostile, "steps"),
        {**sent["job"]["steps"][0], "step_name": hostile + "2"},
    )
    third = host.ok(
        "PUT",
        path("jobs", hostile, "steps", hostile + "3"),
        {"command": "SELECT 3", "target_group_name": hostile},
    )
    renamed = host.ok(
        "PATCH", path("jobs", hostile, "steps", hostile + "3"), {"new_name": hostile + "4"}
    )
    assert (second["step_name"], third["step_name"], renamed["step_name"]) == (
        hostile + "2",
        hostile + "3",
        hostile + "4",
    )
    assert [s["step_name"] for s in host.ok("GET", path("jobs", hostile))["steps"]] == [
        hostile,
        hostile + "2",
        hostile + "4",
    ]
    assert host.ok("GET", path("credentials", hostile)) == credential
    assert_untouched(host, job_database, sentinel)

    # In use, so refused; then deleted by name, leaving the sentinel as it was.
    refused = host.call("DELETE", path("credentials", hostile))
    assert refused.status == 409 and refused.body["field"] == "name", refused.body
    for url in (
        path("jobs", hostile),
        path("target-groups", hostile),
        path("credentials", hostile),
    ):
        assert host.call("DELETE", url).status == 204, url
    assert host.call("GET", path("jobs", hostile)).status == 404
    assert_untouched(host, job_database, sentinel)


# A name that breaks a rule, where it is put, and the field the answer must name.
REFUSED = (
    ("x\\'; DROP TABLE jobs; --", "credential", "name"),
    ("x'/**/UNION/**/SELECT secret_ciphertext FROM credentials --", "credential", "name"),
    ("x%'; DROP TABLE jobs; --", "job", "name"),
    ("x';\nDROP TABLE jobs; --", "step", "steps[0].step_name"),
    (" x'; DROP TABLE jobs; --", "member", "members[0].database_name"),
    ("x'; DROP TABLE jobs; --\x00", "output", "steps[0].output.table_name"),
    ("x'; DROP TABLE jobs; --\u0085", "output", "steps[0].output.schema_name"),
    ("..", "credential", "name"),
)


@pytest.mark.parametrize(("hostile", "where", "field"), REFUSED)
def test_names_that_break_a_rule_are_refused_naming_the_field(
    badinput_host: JobsHost,
    job_database: JobDatabase,
    sentinel: dict[str, Any],
    hostile: str,
    where: str,
    field: str,
) -> None:
    host, other = badinput_host, unique("other")
    step = {"command": "SELECT 1", "target_group_name": sentinel["name"]}
    output = {"server_name": "s", "database_name": "d", "table_name": "t"}
    request = {
        "credential": ("PUT", path("credentials", hostile), {"kind": "managedIdentity"}),
        "job": ("PUT", "/api/jobs/" + quote(hostile, safe=""), {}),
        "step": ("PUT", path("jobs", other), {"steps": [{**step, "step_name": hostile}]}),
        "member": (
            "PUT",
            path("target-groups", other),
            {
                "members": [
                    {"target_type": "database", "server_name": "s", "database_name": hostile}
                ]
            },
        ),
        "output": (
            "PUT",
            path("jobs", other),
            {"steps": [{**step, "output": {**output, field.split(".")[-1]: hostile}}]},
        ),
    }[where]
    before = job_database.fingerprint()
    reply = host.call(*request)
    assert reply.status in (400, 422), reply.body
    assert reply.body["field"] == field, reply.body
    assert hostile not in reply.body["message"] or hostile == "..", reply.body
    assert job_database.fingerprint() == before
    assert_untouched(host, job_database, sentinel)


def test_fleet_file_with_hostile_names_applies_verbatim(
    badinput_host: JobsHost, job_database: JobDatabase, sentinel: dict[str, Any]
) -> None:
    """A fleet file is validated by the same models, then applied through the API."""
    hostile = unique(HOSTILE_NAMES[0])
    quoted = hostile.replace("'", "''")
    text = f"""
credentials:
  - name: '{quoted}'
    kind: password
    username: '{quoted}'
    password: ${{INJECTION_PASSWORD}}
target_groups:
  - name: '{quoted}'
    members:
      - {{target_type: database, server_name: '{quoted}', database_name: '{quoted}'}}
jobs:
  - name: '{quoted}'
    steps:
      - step_name: '{quoted}'
        command: "SELECT 1"
        credential_name: '{quoted}'
        target_group_name: '{quoted}'
        output: {{server_name: 's', database_name: '{quoted}', table_name: '{quoted}'}}
"""
    fleet = parse_fleet(text, "hostile.yaml", {"INJECTION_PASSWORD": PASSWORD})
    assert list(fleet.credentials) == list(fleet.target_groups) == list(fleet.jobs) == [hostile]
    for kind, documents in (
        ("credentials", fleet.credentials),
        ("target-groups", fleet.target_groups),
        ("jobs", fleet.jobs),
    ):
        for name, document in documents.items():
            body = document.model_dump(mode="json", exclude_none=True, exclude={"name"})
            if kind == "credentials":
                body["password"] = PASSWORD
            badinput_host.ok("PUT", path(kind, name), body)
    job = badinput_host.ok("GET", path("jobs", hostile))
    step = job["steps"][0]
    assert (step["step_name"], step["output"]["table_name"]) == (hostile, hostile)
    assert (
        badinput_host.ok("GET", path("target-groups", hostile))["members"][0]["database_name"]
        == hostile
    )
    badinput_host.ok("DELETE", path("jobs", hostile))
    badinput_host.ok("DELETE", path("target-groups", hostile))
    badinput_host.ok("DELETE", path("credentials", hostile))
    assert_untouched(badinput_host, job_database, sentinel)


def test_password_never_answered_logged_or_stored_in_plain_text(
    badinput_host: JobsHost, job_database: JobDatabase
) -> None:
    """Runs after the attacks above (file order), which all sent ``PASSWORD``."""
    assert PASSWORD.encode() not in job_database.raw()
    assert PASSWORD not in badinput_host.log()
    assert not [raw for raw in badinput_host.responses if PASSWORD.encode() in raw]
    hub = b"".join(p.read_bytes() for p in badinput_host.hub_dir.rglob("*") if p.is_file())
    assert PASSWORD.encode() not in hub
