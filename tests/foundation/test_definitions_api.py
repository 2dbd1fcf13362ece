"""Every accepted shape of credentials, target groups, members and jobs, through the HTTP
handlers: 201 on create, 200 on replace, GET list/one, DELETE 204, 404 for unknown names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.foundation.fleet import GROUP, KEY_VAULT, MANAGED, PASSWORD, SECRET, seed, step

CREDENTIALS = {
    "password": PASSWORD,
    "key-vault": KEY_VAULT,
    "key-vault-version": {**KEY_VAULT, "secret_uri": KEY_VAULT["secret_uri"] + "/0123abcd"},
    "identity": MANAGED,
    "user-assigned-identity": {**MANAGED, "client_id": "0F8FAD5B-D9CB-469F-A165-70867728950E"},
    "identity-with-role": {**MANAGED, "username": "fleet-identity", "description": "for pg"},
}


@pytest.mark.parametrize("document", CREDENTIALS.values(), ids=CREDENTIALS.keys())
def test_credential_kinds_are_accepted(api: Any, document: dict[str, Any]) -> None:
    reply = api.put("/api/credentials/c", document)
    assert reply.status == 201
    assert reply.headers["Location"] == "/api/credentials/c"
    body = reply.body
    assert body["name"] == "c" and body["kind"] == document["kind"]
    assert body["has_secret"] is (document["kind"] != "managedIdentity")
    assert "password" not in body and SECRET not in reply.text
    if "client_id" in document:
        assert body["client_id"] == document["client_id"].lower()
    assert api.get("/api/credentials/c").body == body
    replaced = api.put("/api/credentials/c", {**document, "name": "c", "description": "new"})
    assert replaced.status == 200
    assert replaced.body["credential_id"] == body["credential_id"]
    assert replaced.body["created_time"] == body["created_time"]
    assert replaced.body["description"] == "new"
    assert [c["name"] for c in api.get("/api/credentials").body["value"]] == ["c"]
    assert api.delete("/api/credentials/c").status == 204
    assert api.get("/api/credentials/c").status == 404
    assert api.delete("/api/credentials/c").status == 404


MEMBERS = {
    "database": {
        "target_type": "database",
        "server_name": "s1.database.windows.net",
        "database_name": "d",
    },
    "database-exclude": {
        "target_type": "database",
        "membership_type": "exclude",
        "server_name": "s1",
        "database_name": "d",
    },
    "server": {"target_type": "server", "server_name": "s1", "refresh_credential_name": "pw"},
    "server-identity-refresh": {
        "target_type": "server",
        "server_name": "s1",
        "refresh_credential_name": "mi",
    },
    "pool": {
        "target_type": "elasticPool",
        "server_name": "s1",
        "elastic_pool_name": "pool1",
        "refresh_credential_name": "kv",
    },
    "pool-exclude": {
        "target_type": "elasticPool",
        "membership_type": "exclude",
        "server_name": "s1",
        "elastic_pool_name": "p",
        "refresh_credential_name": "pw",
    },
    "postgresql-database": {
        "target_type": "database",
        "engine": "postgresql",
        "server_name": "127.0.0.1",
        "port": 5432,
        "database_name": "app",
    },
    "postgresql-server": {
        "target_type": "server",
        "engine": "postgresql",
        "server_name": "pg",
        "refresh_credential_name": "pw",
    },
    "mysql-server": {
        "target_type": "server",
        "engine": "mysql",
        "server_name": "maria",
        "port": 3306,
        "refresh_credential_name": "pw",
    },
    "sqlite-folder": {"target_type": "server", "engine": "sqlite", "server_name": "/var/lib/fleet"},
    "sqlite-file": {
        "target_type": "database",
        "engine": "sqlite",
        "server_name": "/var/lib/fleet",
        "database_name": "a.db",
    },
}


@pytest.mark.parametrize("document", MEMBERS.values(), ids=MEMBERS.keys())
def test_member_shapes_are_accepted(api: Any, document: dict[str, Any]) -> None:
    seed(api)
    reply = api.put("/api/target-groups/t", {"members": [document]})
    assert reply.status == 201, reply.body
    stored = reply.body["members"][0]
    assert stored["membership_type"] == document.get("membership_type", "include")
    assert stored["engine"] == document.get("engine", "sqlserver")
    for field, value in document.items():
        assert stored[field] == value
    assert api.get("/api/target-groups/t").body == reply.body


def test_member_sub_resource(api: Any) -> None:
    seed(api)
    group = api.get("/api/target-groups/g").body
    added = api.post(
        "/api/target-groups/g/members",
        {"target_type": "server", "server_name": "s2", "refresh_credential_name": "pw"},
    )
    assert added.status == 201
    target_id = added.body["target_id"]
    assert added.headers["Location"] == f"/api/target-groups/g/members/{target_id}"
    listed = api.get("/api/target-groups/g/members").body["value"]
    assert [m["target_id"] for m in listed] == [group["members"][0]["target_id"], target_id]
    assert api.get(f"/api/target-groups/g/members/{target_id}").body == added.body
    replaced = api.put(
        f"/api/target-groups/g/members/{target_id}",
        {"target_type": "server", "server_name": "s3", "refresh_credential_name": "mi"},
    )
    assert replaced.status == 200 and replaced.body["server_name"] == "s3"
    assert api.get("/api/target-groups/g").body["members"][1]["server_name"] == "s3"
    new_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    created = api.put(
        f"/api/target-groups/g/members/{new_id}",
        {"target_type": "database", "server_name": "s9", "database_name": "x"},
    )
    assert created.status == 201 and created.body["target_id"] == new_id
    duplicate = api.post(
        "/api/target-groups/g/members",
        {"target_type": "database", "server_name": "s9", "database_name": "x"},
    )
    assert duplicate.status == 409 and duplicate.body["code"] == "Conflict"
    assert api.delete(f"/api/target-groups/g/members/{target_id}").status == 204
    assert api.get(f"/api/target-groups/g/members/{target_id}").status == 404
    assert api.delete(f"/api/target-groups/g/members/{target_id}").status == 404
    assert len(api.get("/api/target-groups/g/members").body["value"]) == 2
    assert api.get("/api/target-groups/nope/members").status == 404


def test_target_group_replace_keeps_given_member_ids(api: Any) -> None:
    seed(api)
    first = api.get("/api/target-groups/g").body
    kept = first["members"][0]
    document = {
        "description": "replaced",
        "members": [
            {**{k: kept[k] for k in ("target_id", "target_type", "server_name", "database_name")}}
        ],
    }
    reply = api.put("/api/target-groups/g", document)
    assert reply.status == 200
    assert reply.body["target_group_id"] == first["target_group_id"]
    assert reply.body["members"][0]["target_id"] == kept["target_id"]
    assert reply.body["description"] == "replaced"
    empty = api.put("/api/target-groups/g", {"members": []})
    assert empty.status == 200 and empty.body["members"] == []
    assert [g["name"] for g in api.get("/api/target-groups").body["value"]] == ["g"]


def test_job_defaults_are_elastic_jobs_defaults(api: Any) -> None:
    seed(api)
    reply = api.put("/api/jobs/plain", {})
    assert reply.status == 201
    job = reply.body
    assert job["enabled"] is False and job["description"] == ""
    assert job["schedule"] == {
        "interval_type": "once",
        "interval_count": 1,
        "start_time": "0001-01-01T00:00:00Z",
        "end_time": "9999-12-31T11:59:59Z",
        "time_zone": None,
        "cron": None,
    }
    assert job["parameters"] == [] and job["next_run_time"] is None
    assert job["job_version"] == 0 and job["steps"] == []
    first = api.post("/api/jobs/plain/steps", {"command": "SELECT 1", "target_group_name": "g"})
    assert first.status == 201
    assert first.body == {
        "job_name": "plain",
        "job_version": 1,
        "step_id": 1,
        "step_name": "JobStep",
        "command": "SELECT 1",
        "credential_name": None,
        "target_group_name": "g",
        "retry_attempts": 10,
        "initial_retry_interval_seconds": 1,
        "maximum_retry_interval_seconds": 120,
        "retry_interval_backoff_multiplier": 2.0,
        "step_timeout_seconds": 43200,
        "max_parallelism": None,
        "on_failure": "fail",
        "output": None,
        "retry_on": "transient",
    }
    assert first.headers["Location"] == "/api/jobs/plain/steps/1"


@pytest.mark.parametrize("interval", ["once", "minutes", "hours", "days", "weeks", "Months"])
def test_schedules_are_accepted(api: Any, interval: str) -> None:
    schedule = {
        "interval_type": interval,
        "interval_count": 15,
        "start_time": "2025-03-01T10:00:00+02:00",
        "end_time": "2025-12-31T00:00:00",
    }
    reply = api.put("/api/jobs/s", {"enabled": True, "description": "d", "schedule": schedule})
    assert reply.status == 201, reply.body
    assert reply.body["enabled"] is True
    assert reply.body["schedule"] == {
        "interval_type": interval.lower(),
        "interval_count": 15,
        "start_time": "2025-03-01T08:00:00Z",
        "end_time": "2025-12-31T00:00:00Z",
        "time_zone": None,
        "cron": None,
    }
    again = api.put("/api/jobs/s", {"name": "s", "enabled": False})
    assert again.status == 200 and again.body["enabled"] is False
    assert again.body["job_id"] == reply.body["job_id"]


OUTPUTS = {
    "sqlserver": (
        {
            "server_name": "out.database.windows.net",
            "database_name": "results",
            "table_name": "rows",
        },
        "dbo",
    ),
    "postgresql": (
        {
            "engine": "postgresql",
            "server_name": "pg",
            "port": 5432,
            "database_name": "r",
            "table_name": "t",
        },
        "public",
    ),
    "mysql": (
        {"engine": "mysql", "server_name": "m", "database_name": "r", "table_name": "t"},
        None,
    ),
    "sqlite": (
        {"engine": "sqlite", "server_name": "/data", "database_name": "out.db", "table_name": "t"},
        "main",
    ),
    "named-schema": (
        {
            "server_name": "s",
            "database_name": "r",
            "schema_name": "audit",
            "table_name": "t",
            "credential_name": "kv",
        },
        "audit",
    ),
}


@pytest.mark.parametrize(("output", "schema"), OUTPUTS.values(), ids=OUTPUTS.keys())
def test_step_shapes_are_accepted(api: Any, output: dict[str, Any], schema: str | None) -> None:
    seed(api)
    document = step(
        step_name="full",
        credential_name="mi",
        retry_attempts=0,
        initial_retry_interval_seconds=5,
        maximum_retry_interval_seconds=5,
        retry_interval_backoff_multiplier=1,
        step_timeout_seconds=60,
        max_parallelism=4,
        on_failure="continue",
        output=output,
    )
    reply = api.post("/api/jobs/j/steps", document)
    assert reply.status == 201, reply.body
    stored = reply.body
    assert stored["output"]["schema_name"] == schema
    assert stored["output"]["engine"] == output.get("engine", "sqlserver")
    for field, value in document.items():
        if field != "output":
            assert stored[field] == value
    assert api.get("/api/jobs/j/steps/full").body == stored
    assert api.get("/api/jobs/j/steps/2").body == stored


def test_jobs_list_get_delete(api: Any) -> None:
    seed(api)
    api.put("/api/jobs/a", {})
    names = [job["name"] for job in api.get("/api/jobs").body["value"]]
    assert names == ["a", "j"]
    job = api.get("/api/jobs/j").body
    assert job["job_version"] == 1 and job["steps"][0]["step_name"] == "first"
    assert api.delete("/api/jobs/j").status == 204
    assert api.get("/api/jobs/j").status == 404
    assert api.get("/api/jobs/j/steps").status == 404
    assert api.get("/api/jobs/j/versions").status == 404
    missing = api.delete("/api/jobs/j")
    assert missing.status == 404 and missing.body["code"] == "NotFound"
    assert "PUT /api/jobs/j" in missing.body["message"]


def test_names_with_spaces_and_unicode_round_trip(api: Any) -> None:
    reply = api.put("/api/jobs/Nightly%20r%C3%A9index", {})
    assert reply.status == 201
    assert reply.body["name"] == "Nightly réindex"
    assert reply.headers["Location"] == "/api/jobs/Nightly%20r%C3%A9index"
    assert api.get("/api/jobs/Nightly%20r%C3%A9index").body["name"] == "Nightly réindex"


def test_openapi_document_describes_every_route(api: Any) -> None:
    reply = api.get("/api/openapi.json")
    assert reply.status == 200
    document = reply.body
    assert document["openapi"].startswith("3.")
    # Other handler modules (executions, ...) add their own paths.
    assert set(document["paths"]) >= {
        "/api/credentials",
        "/api/credentials/{name}",
        "/api/target-groups",
        "/api/target-groups/{name}",
        "/api/target-groups/{name}/members",
        "/api/target-groups/{name}/members/{target_id}",
        "/api/jobs",
        "/api/jobs/{name}",
        "/api/jobs/{name}/steps",
        "/api/jobs/{name}/steps/{step}",
        "/api/jobs/{name}/versions",
        "/api/jobs/{name}/versions/{version}",
        "/api/openapi.json",
    }
    put_job = document["paths"]["/api/jobs/{name}"]["put"]
    schema_ref = put_job["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    job_in = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert set(job_in["properties"]) == {
        "name",
        "description",
        "enabled",
        "schedule",
        "steps",
        "notifications",
        "parameters",
    }
    assert {"201", "200", "422", "404"} <= set(put_job["responses"])
    step_fields = document["components"]["schemas"]["StepIn"]["properties"]
    assert step_fields["retry_attempts"]["default"] == 10
    assert step_fields["step_timeout_seconds"]["default"] == 43200
    credential = document["components"]["schemas"]["Credential"]["properties"]
    assert "password" not in credential and "has_secret" in credential
    delete_job = document["paths"]["/api/jobs/{name}"]["delete"]
    assert [p["name"] for p in delete_job["parameters"]] == ["name", "force"]


def test_group_body_name_must_match(api: Any) -> None:
    reply = api.put("/api/target-groups/g", {**GROUP, "name": "g"})
    assert reply.status == 201


def test_store_opens_lazily_from_the_environment(
    _routes: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlfleet.runtime import use_job_store
    from sqlfleet.settings import reset_settings
    from tests.foundation.conftest import ApiClient

    database = tmp_path / "lazy" / "jobs.db"
    monkeypatch.setenv("SQLFLEET_JOB_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.delenv("SQLFLEET_CREDENTIAL_KEY", raising=False)
    reset_settings()
    use_job_store(None)
    try:
        client = ApiClient(_routes)
        assert not database.exists()
        assert client.put("/api/jobs/lazy", {}).status == 201
        assert database.exists()
        assert client.get("/api/jobs/lazy").body["name"] == "lazy"
        from sqlfleet.runtime import job_store

        store = job_store()
        assert job_store() is store
        store.close()
    finally:
        use_job_store(None)
        reset_settings()
