"""Requests no generator writes by chance: each is answered 4xx naming the field, shows no
internals, and leaves the job database as it was. Every one of these was a 500 (or an
undocumented answer) before the fix noted beside it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.badinput.conftest import JobDatabase
from tests.jobs.host import JobsHost

JOB = {"steps": [{"command": "SELECT 1", "target_group_name": "g"}]}

# (method, path, raw body, expected status, expected field)
CASES: tuple[tuple[str, str, bytes | None, int, str], ...] = (
    # json.loads recursed past the interpreter's limit: RecursionError, a 500.
    ("PUT", "/api/jobs/deep", b'{"steps":' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "body"),
    # json.loads reads NaN and Infinity, which JSON does not have.
    ("PUT", "/api/jobs/nan", b'{"schedule": {"interval_count": NaN}}', 400, "body"),
    # A lone surrogate escape reached the job database's UTF-8 encoder.
    ("PUT", "/api/jobs/surrogate", b'{"description": "\\ud800"}', 422, "description"),
    (
        "PUT",
        "/api/jobs/surrogate-deep",
        b'{"steps": [{"command": "SELECT 1", "target_group_name": "g\\udfff"}]}',
        422,
        "steps[0].target_group_name",
    ),
    ("PUT", "/api/jobs/utf8", b'{"description": "\xff\xfe"}', 400, "body"),
    ("PUT", "/api/jobs/array", b"[]", 400, "body"),
    ("PUT", "/api/jobs/empty", b"", 400, "body"),
    # NUL would cut the script short at the driver, and PostgreSQL cannot store it.
    (
        "PUT",
        "/api/jobs/nul",
        json.dumps(
            {"steps": [{"command": "SELECT 1\u0000; DROP", "target_group_name": "g"}]}
        ).encode(),
        422,
        "steps[0].command",
    ),
    # Seconds since 1970 and bare dates were read as times by pydantic's lax mode.
    ("PUT", "/api/jobs/epoch", b'{"schedule": {"end_time": 0}}', 422, "schedule.end_time"),
    (
        "PUT",
        "/api/jobs/date",
        b'{"schedule": {"end_time": "2030-01-01"}}',
        422,
        "schedule.end_time",
    ),
    # A step name in the URL that creates a step was not checked: pydantic raised inside the
    # store, a 500 whose log line quoted the input.
    ("PUT", "/api/jobs/j/steps/a%0Bb", json.dumps(JOB["steps"][0]).encode(), 422, "step"),
    # str.isdigit() takes superscripts that int() refuses: ValueError, a 500.
    ("GET", "/api/jobs/j/versions/%C2%B2", None, 400, "version"),
    ("GET", "/api/jobs/j/steps?version=%C2%B2", None, 400, "version"),
    # int() refuses more than 4300 digits: ValueError, a 500.
    ("GET", "/api/jobs/j/versions/" + "9" * 5000, None, 400, "version"),
    ("GET", "/api/jobs/j/steps/" + "9" * 5000, None, 400, "step"),
    # An empty value was taken as "absent", though the document says integer / boolean.
    ("GET", "/api/jobs/j/steps?version=", None, 400, "version"),
    ("DELETE", "/api/jobs/j?force=", None, 400, "force"),
    # An unknown field named "" was reported with an empty field.
    ("PUT", "/api/jobs/blank-key", b'{"": 1}', 422, '[""]'),
    (
        "PUT",
        "/api/target-groups/dotted-key",
        json.dumps(
            {
                "members": [
                    {"target_type": "database", "server_name": "s", "database_name": "d", "a.b": 1}
                ]
            }
        ).encode(),
        422,
        'members[0]["a.b"]',
    ),
    # Names a URL cannot address.
    ("PUT", "/api/credentials/%2E%2E", b'{"kind": "managedIdentity"}', 422, "name"),
    ("PUT", "/api/target-groups/a%C2%85", b"{}", 422, "name"),
    # Schema-valid spellings: 2.0 is an integer in JSON Schema (accepted), "Once" the T-SQL
    # spelling (accepted); "ONCE" is neither.
    (
        "PUT",
        "/api/jobs/upper",
        b'{"schedule": {"interval_type": "ONCE"}}',
        422,
        "schedule.interval_type",
    ),
    # POST documented new_id although it always refused it; the field is gone from its body.
    (
        "POST",
        "/api/jobs/j/steps",
        json.dumps({**JOB["steps"][0], "new_id": 1}).encode(),
        422,
        "new_id",
    ),
)


@pytest.fixture(scope="module", autouse=True)
def existing_job(badinput_host: JobsHost) -> Iterator[None]:
    """Job ``j`` on group ``g`` exists, so that only the malformed part can be refused."""
    badinput_host.ok("PUT", "/api/target-groups/g", {})
    badinput_host.ok("PUT", "/api/jobs/j", JOB)
    yield
    badinput_host.ok("DELETE", "/api/jobs/j")
    badinput_host.ok("DELETE", "/api/target-groups/g")


def send(host: JobsHost, method: str, path: str, body: bytes | None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(host.base + path, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("x-functions-key", host.keys.function_key or "")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw) if raw else None, raw


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    CASES,
    ids=[f"{c[0]} {c[1][:50]} {c[4]}" for c in CASES],
)
def test_malformed_request_is_refused_naming_the_field(
    badinput_host: JobsHost,
    job_database: JobDatabase,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    field: str,
) -> None:
    before = job_database.fingerprint()
    answered, document, raw = send(badinput_host, method, path, body)
    assert (answered, document["field"]) == (status, field), document
    assert document["message"]
    assert b"Traceback" not in raw and b'File "' not in raw
    assert job_database.fingerprint() == before


def test_schema_valid_spellings_are_accepted(badinput_host: JobsHost) -> None:
    body = {
        "schedule": {
            "interval_type": "Once",
            "interval_count": 2.0,
            "start_time": "2030-01-01T00:00:00Z",
        },
        "steps": [{"command": "SELECT 1", "target_group_name": "g", "retry_attempts": 3.0}],
    }
    job = badinput_host.ok("PUT", "/api/jobs/spellings", body)
    assert job["schedule"]["interval_type"] == "once"
    assert job["schedule"]["interval_count"] == 2
    assert job["steps"][0]["retry_attempts"] == 3
    badinput_host.ok("DELETE", "/api/jobs/spellings")


def test_not_found_and_conflict_answers_name_the_parameter(badinput_host: JobsHost) -> None:
    assert badinput_host.call("GET", "/api/jobs/nobody").body["field"] == "name"
    badinput_host.ok("PUT", "/api/target-groups/tg-used", {})
    badinput_host.ok(
        "PUT",
        "/api/jobs/uses-tg",
        {"steps": [{"command": "SELECT 1", "target_group_name": "tg-used"}]},
    )
    assert badinput_host.call("GET", "/api/jobs/uses-tg/steps/7").body["field"] == "step"
    assert badinput_host.call("GET", "/api/jobs/uses-tg/versions/9").body["field"] == "version"
    reply = badinput_host.call("DELETE", "/api/target-groups/tg-used")
    assert (reply.status, reply.body["code"], reply.body["field"]) == (409, "InUse", "name")
    badinput_host.ok("DELETE", "/api/jobs/uses-tg")
    badinput_host.ok("DELETE", "/api/target-groups/tg-used")
