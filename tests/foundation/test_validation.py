"""Every validation rule has a request that breaks it: answered 4xx, naming the field, and
leaving the job database exactly as it was."""

from __future__ import annotations

from typing import Any

import pytest

from tests.foundation.fleet import DATABASE_MEMBER, KEY_VAULT, MANAGED, PASSWORD, seed, step

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def member(**fields: Any) -> dict[str, Any]:
    document = dict(DATABASE_MEMBER)
    document.update(fields)
    return {k: v for k, v in document.items() if v is not None}


def server(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "target_type": "server",
        "server_name": "sql1.example.net",
        "refresh_credential_name": "pw",
    }
    document.update(fields)
    return {k: v for k, v in document.items() if v is not None}


def group(*members: dict[str, Any]) -> dict[str, Any]:
    return {"members": list(members)}


def job_with(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"steps": list(steps), **fields}


C, G, J = "/api/credentials/new", "/api/target-groups/new", "/api/jobs/new"
# (id, method, path, body, status, field). Bodies given as bytes are sent as they are.
BAD_INPUTS: list[tuple[str, str, str, Any, int, str]] = [
    ("credential-name-too-long", "PUT", "/api/credentials/" + "n" * 129, PASSWORD, 422, "name"),
    ("credential-name-slash", "PUT", "/api/credentials/a%2Fb", PASSWORD, 422, "name"),
    ("credential-name-differs", "PUT", C, {**PASSWORD, "name": "other"}, 422, "name"),
    ("credential-kind-missing", "PUT", C, {"username": "u", "password": "p"}, 422, "kind"),
    ("credential-kind-unknown", "PUT", C, {"kind": "certificate"}, 422, "kind"),
    ("password-missing", "PUT", C, {"kind": "password", "username": "u"}, 422, "password"),
    ("password-username-missing", "PUT", C, {"kind": "password", "password": "p"}, 422, "username"),
    ("password-empty", "PUT", C, {**PASSWORD, "password": ""}, 422, "password"),
    ("password-too-long", "PUT", C, {**PASSWORD, "password": "p" * 1025}, 422, "password"),
    ("username-not-text", "PUT", C, {**PASSWORD, "username": 42}, 422, "username"),
    ("keyvault-uri-missing", "PUT", C, {"kind": "keyVault", "username": "u"}, 422, "secret_uri"),
    (
        "keyvault-uri-http",
        "PUT",
        C,
        {**KEY_VAULT, "secret_uri": "http://v.vault.azure.net/secrets/s"},
        422,
        "secret_uri",
    ),
    (
        "keyvault-uri-not-secret",
        "PUT",
        C,
        {**KEY_VAULT, "secret_uri": "https://v.vault.azure.net/keys/k"},
        422,
        "secret_uri",
    ),
    ("keyvault-with-password", "PUT", C, {**KEY_VAULT, "password": "p"}, 422, "password"),
    ("identity-client-id-not-uuid", "PUT", C, {**MANAGED, "client_id": "abc"}, 422, "client_id"),
    ("identity-with-password", "PUT", C, {**MANAGED, "password": "p"}, 422, "password"),
    (
        "identity-with-secret-uri",
        "PUT",
        C,
        {**MANAGED, "secret_uri": KEY_VAULT["secret_uri"]},
        422,
        "secret_uri",
    ),
    ("credential-unknown-field", "PUT", C, {**PASSWORD, "passwrd": "x"}, 422, "passwrd"),
    (
        "credential-description-too-long",
        "PUT",
        C,
        {**MANAGED, "description": "d" * 513},
        422,
        "description",
    ),
    ("body-not-json", "PUT", C, b"{kind: password", 400, "body"),
    ("body-not-object", "PUT", C, b'["password"]', 400, "body"),
    ("group-name-too-long", "PUT", "/api/target-groups/" + "g" * 129, group(), 422, "name"),
    (
        "member-type-missing",
        "PUT",
        G,
        group({"server_name": "s", "database_name": "d"}),
        422,
        "members[0].target_type",
    ),
    (
        "member-type-unknown",
        "PUT",
        G,
        group(member(target_type="table")),
        422,
        "members[0].target_type",
    ),
    (
        "database-member-without-database",
        "PUT",
        G,
        group(member(database_name=None)),
        422,
        "members[0].database_name",
    ),
    (
        "database-member-with-pool",
        "PUT",
        G,
        group(member(elastic_pool_name="p")),
        422,
        "members[0].elastic_pool_name",
    ),
    (
        "database-member-with-refresh",
        "PUT",
        G,
        group(member(refresh_credential_name="pw")),
        422,
        "members[0].refresh_credential_name",
    ),
    (
        "pool-member-without-pool",
        "PUT",
        G,
        group(server(target_type="elasticPool")),
        422,
        "members[0].elastic_pool_name",
    ),
    (
        "pool-member-postgresql",
        "PUT",
        G,
        group(server(target_type="elasticPool", elastic_pool_name="p", engine="postgresql")),
        422,
        "members[0].engine",
    ),
    (
        "server-member-without-refresh",
        "PUT",
        G,
        group(server(refresh_credential_name=None)),
        422,
        "members[0].refresh_credential_name",
    ),
    (
        "server-member-with-database",
        "PUT",
        G,
        group(server(database_name="d")),
        422,
        "members[0].database_name",
    ),
    (
        "server-member-unknown-refresh",
        "PUT",
        G,
        group(server(refresh_credential_name="nope")),
        422,
        "members[0].refresh_credential_name",
    ),
    ("member-engine-unknown", "PUT", G, group(member(engine="oracle")), 422, "members[0].engine"),
    ("member-port-too-big", "PUT", G, group(member(port=70000)), 422, "members[0].port"),
    (
        "member-port-on-sqlite",
        "PUT",
        G,
        group(member(engine="sqlite", port=5432)),
        422,
        "members[0].port",
    ),
    ("member-server-empty", "PUT", G, group(member(server_name="")), 422, "members[0].server_name"),
    (
        "member-membership-unknown",
        "PUT",
        G,
        group(member(membership_type="maybe")),
        422,
        "members[0].membership_type",
    ),
    (
        "member-target-id-not-uuid",
        "PUT",
        G,
        group(member(target_id="x1")),
        422,
        "members[0].target_id",
    ),
    (
        "member-duplicate",
        "PUT",
        G,
        group(member(), member(server_name="SQL1.example.net")),
        422,
        "members[1]",
    ),
    (
        "member-shard-map",
        "PUT",
        G,
        group(member(target_type="shardMap")),
        501,
        "members[0].target_type",
    ),
    (
        "member-post-without-server",
        "POST",
        "/api/target-groups/g/members",
        {"target_type": "database", "database_name": "d"},
        422,
        "server_name",
    ),
    (
        "member-put-bad-target-id",
        "PUT",
        "/api/target-groups/g/members/not-a-uuid",
        member(),
        400,
        "target_id",
    ),
    (
        "member-put-target-id-differs",
        "PUT",
        f"/api/target-groups/g/members/{UUID}",
        member(target_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
        422,
        "target_id",
    ),
    ("job-name-percent", "PUT", "/api/jobs/50%25off", {}, 422, "name"),
    ("job-description-too-long", "PUT", J, {"description": "d" * 513}, 422, "description"),
    ("job-enabled-not-boolean", "PUT", J, {"enabled": "yes"}, 422, "enabled"),
    (
        "schedule-interval-unknown",
        "PUT",
        J,
        {"schedule": {"interval_type": "fortnights"}},
        422,
        "schedule.interval_type",
    ),
    (
        "schedule-count-zero",
        "PUT",
        J,
        {"schedule": {"interval_type": "days", "interval_count": 0}},
        422,
        "schedule.interval_count",
    ),
    (
        "schedule-end-before-start",
        "PUT",
        J,
        {"schedule": {"start_time": "2025-02-01T00:00:00Z", "end_time": "2025-01-01T00:00:00Z"}},
        422,
        "schedule.end_time",
    ),
    (
        "schedule-start-not-time",
        "PUT",
        J,
        {"schedule": {"start_time": "next tuesday"}},
        422,
        "schedule.start_time",
    ),
    (
        "step-command-missing",
        "PUT",
        J,
        job_with({"target_group_name": "g"}),
        422,
        "steps[0].command",
    ),
    ("step-command-blank", "PUT", J, job_with(step(command="  \n ")), 422, "steps[0].command"),
    (
        "step-group-missing",
        "PUT",
        J,
        job_with({"command": "SELECT 1"}),
        422,
        "steps[0].target_group_name",
    ),
    (
        "step-retry-attempts-negative",
        "PUT",
        J,
        job_with(step(retry_attempts=-1)),
        422,
        "steps[0].retry_attempts",
    ),
    (
        "step-retry-attempts-text",
        "PUT",
        J,
        job_with(step(retry_attempts="10")),
        422,
        "steps[0].retry_attempts",
    ),
    (
        "step-initial-interval-zero",
        "PUT",
        J,
        job_with(step(initial_retry_interval_seconds=0)),
        422,
        "steps[0].initial_retry_interval_seconds",
    ),
    (
        "step-maximum-below-initial",
        "PUT",
        J,
        job_with(step(initial_retry_interval_seconds=60, maximum_retry_interval_seconds=30)),
        422,
        "steps[0].maximum_retry_interval_seconds",
    ),
    (
        "step-multiplier-below-one",
        "PUT",
        J,
        job_with(step(retry_interval_backoff_multiplier=0.5)),
        422,
        "steps[0].retry_interval_backoff_multiplier",
    ),
    (
        "step-timeout-zero",
        "PUT",
        J,
        job_with(step(step_timeout_seconds=0)),
        422,
        "steps[0].step_timeout_seconds",
    ),
    (
        "step-parallelism-zero",
        "PUT",
        J,
        job_with(step(max_parallelism=0)),
        422,
        "steps[0].max_parallelism",
    ),
    (
        "step-on-failure-unknown",
        "PUT",
        J,
        job_with(step(on_failure="retry")),
        422,
        "steps[0].on_failure",
    ),
    (
        "step-output-without-table",
        "PUT",
        J,
        job_with(step(output={"server_name": "s", "database_name": "d"})),
        422,
        "steps[0].output.table_name",
    ),
    (
        "step-output-without-database",
        "PUT",
        J,
        job_with(step(output={"server_name": "s", "table_name": "t"})),
        422,
        "steps[0].output.database_name",
    ),
    (
        "step-output-mysql-schema",
        "PUT",
        J,
        job_with(
            step(
                output={
                    "engine": "mysql",
                    "server_name": "s",
                    "database_name": "d",
                    "schema_name": "x",
                    "table_name": "t",
                }
            )
        ),
        422,
        "steps[0].output.schema_name",
    ),
    ("second-step-without-name", "PUT", J, job_with(step(), step()), 422, "steps[1].step_name"),
    (
        "step-names-repeat",
        "PUT",
        J,
        job_with(step(step_name="a"), step(step_name="a")),
        422,
        "steps[1].step_name",
    ),
    ("step-id-out-of-order", "PUT", J, job_with(step(step_id=2)), 422, "steps[0].step_id"),
    (
        "step-unknown-group",
        "PUT",
        J,
        job_with(step(target_group_name="nope")),
        422,
        "steps[0].target_group_name",
    ),
    (
        "step-unknown-credential",
        "PUT",
        J,
        job_with(step(credential_name="nope")),
        422,
        "steps[0].credential_name",
    ),
    (
        "step-unknown-output-credential",
        "PUT",
        J,
        job_with(
            step(
                output={
                    "server_name": "s",
                    "database_name": "d",
                    "table_name": "t",
                    "credential_name": "nope",
                }
            )
        ),
        422,
        "steps[0].output.credential_name",
    ),
    ("post-step-without-name", "POST", "/api/jobs/j/steps", step(), 422, "step_name"),
    (
        "post-step-id-beyond-end",
        "POST",
        "/api/jobs/j/steps",
        step(step_name="b", step_id=5),
        422,
        "step_id",
    ),
    (
        "post-step-with-new-id",
        "POST",
        "/api/jobs/j/steps",
        step(step_name="b", new_id=1),
        422,
        "new_id",
    ),
    ("put-step-id-differs", "PUT", "/api/jobs/j/steps/1", step(step_id=2), 422, "step_id"),
    ("patch-step-new-id-beyond-end", "PATCH", "/api/jobs/j/steps/1", {"new_id": 9}, 422, "new_id"),
    ("patch-step-command-null", "PATCH", "/api/jobs/j/steps/1", {"command": None}, 422, "command"),
    (
        "patch-step-maximum-below-initial",
        "PATCH",
        "/api/jobs/j/steps/1",
        {"maximum_retry_interval_seconds": 0},
        422,
        "maximum_retry_interval_seconds",
    ),
    (
        "patch-step-unknown-group",
        "PATCH",
        "/api/jobs/j/steps/first",
        {"target_group_name": "nope"},
        422,
        "target_group_name",
    ),
    ("steps-version-not-number", "GET", "/api/jobs/j/steps?version=latest", None, 400, "version"),
    ("job-version-not-number", "GET", "/api/jobs/j/versions/v1", None, 400, "version"),
    ("delete-force-not-boolean", "DELETE", "/api/jobs/j?force=maybe", None, 400, "force"),
]


def snapshot(api: Any) -> list[Any]:
    state = [api.get(f"/api/{kind}").body for kind in ("credentials", "target-groups", "jobs")]
    state.append(api.get("/api/jobs/j/versions").body)
    return state


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_rejected_naming_the_field(
    api: Any, method: str, path: str, body: Any, status: int, field: str
) -> None:
    seed(api)
    before = snapshot(api)
    raw = body if isinstance(body, bytes) else None
    reply = api.request(method, path, None if raw else body, raw)
    assert reply.status == status, reply.body
    assert reply.body["field"] == field, reply.body
    assert reply.body["code"] in {"ValidationFailed", "BadRequest", "Unsupported"}
    assert reply.body["message"]
    if status == 422:
        assert reply.body["errors"][0]["field"] == field
    assert snapshot(api) == before


def test_at_least_thirty_distinct_bad_inputs() -> None:
    assert len({case[0] for case in BAD_INPUTS}) == len(BAD_INPUTS) >= 30


def test_messages_say_what_was_expected(api: Any) -> None:
    seed(api)
    reply = api.put(J, job_with(step(target_group_name="nope")))
    assert reply.body["message"] == (
        "steps[0].target_group_name: target group 'nope' does not exist; "
        "create it with PUT /api/target-groups/nope"
    )
    reply = api.put(G, group(server(refresh_credential_name=None)))
    assert "refresh_credential_name" in reply.body["message"]
    assert "managedIdentity" in reply.body["message"]


def test_every_problem_is_listed(api: Any) -> None:
    reply = api.put(J, job_with(step(retry_attempts=-1, step_timeout_seconds=0)))
    fields = [problem["field"] for problem in reply.body["errors"]]
    assert fields == ["steps[0].retry_attempts", "steps[0].step_timeout_seconds"]
