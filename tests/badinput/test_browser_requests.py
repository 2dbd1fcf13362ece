"""What a web page in the user's browser could send to SQL Fleet's local host: a form or
``text/plain`` POST (no CORS preflight), a request from another origin, a request under a name
the page's own DNS points at 127.0.0.1. Each is refused, and nothing is done: no step added, no
job started, the job database unchanged."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.badinput.conftest import JobDatabase
from tests.jobs.host import JobsHost

JOB = "web-j"
GROUP = "web-g"
STEP = {"command": "SELECT 1", "target_group_name": GROUP, "step_name": "added"}


@pytest.fixture(scope="module", autouse=True)
def job(badinput_host: JobsHost) -> Iterator[None]:
    badinput_host.ok("PUT", f"/api/target-groups/{GROUP}", {})
    badinput_host.ok("PUT", f"/api/jobs/{JOB}", {"steps": [{**STEP, "step_name": "first"}]})
    yield
    badinput_host.ok("DELETE", f"/api/jobs/{JOB}?force=true")
    badinput_host.ok("DELETE", f"/api/target-groups/{GROUP}")


def send(
    host: JobsHost,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    key: bool = True,
) -> tuple[int, Any]:
    """One request with exactly these headers (http.client adds no Content-Type of its own)."""
    sent = dict(headers or {})
    if key:
        sent["x-functions-key"] = host.keys.function_key or ""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        status, raw = response.status, response.read()
    finally:
        connection.close()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def nothing_done(host: JobsHost) -> tuple[list[str], list[Any]]:
    steps = [s["step_name"] for s in host.ok("GET", f"/api/jobs/{JOB}/steps")["value"]]
    executions = host.ok("GET", f"/api/executions?job_name={JOB}")["items"]
    return steps, executions


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_a_body_not_sent_as_json_is_refused_415(
    badinput_host: JobsHost, job_database: JobDatabase, content_type: str | None
):
    before = job_database.fingerprint()
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps(STEP).encode()  # JSON text, as a form's text/plain field can carry it
    status, answer = send(badinput_host, "POST", f"/api/jobs/{JOB}/steps", body, headers)
    assert status == 415
    assert answer["code"] == "UnsupportedMediaType" and answer["field"] == "Content-Type"
    assert (content_type or "no Content-Type") in answer["message"]
    assert "application/json" in answer["message"]
    assert job_database.fingerprint() == before
    assert nothing_done(badinput_host) == (["first"], [])


def test_json_with_parameters_is_json(badinput_host: JobsHost):
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    body = json.dumps({**STEP, "step_name": "json-ok"}).encode()
    status, answer = send(badinput_host, "POST", f"/api/jobs/{JOB}/steps", body, headers)
    assert status == 201, answer
    badinput_host.ok("DELETE", f"/api/jobs/{JOB}/steps/json-ok")


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Host": "attacker.example:7071"},  # DNS rebinding: the page's name, 127.0.0.1's address
        {"Host": "attacker.example", "Origin": "http://attacker.example"},
    ],
    ids=["foreign origin", "opaque origin", "foreign host", "rebound page"],
)
def test_a_page_elsewhere_cannot_add_a_step_or_start_a_job_even_with_the_key(
    badinput_host: JobsHost, job_database: JobDatabase, headers: dict[str, str]
):
    before = job_database.fingerprint()
    json_body = {"Content-Type": "application/json", **headers}
    added, _ = send(
        badinput_host, "POST", f"/api/jobs/{JOB}/steps", json.dumps(STEP).encode(), json_body
    )
    started, _ = send(badinput_host, "POST", f"/api/jobs/{JOB}/start", None, headers)
    expected = 400 if "Host" in headers else 403
    assert (added, started) == (expected, expected)
    assert job_database.fingerprint() == before
    assert nothing_done(badinput_host) == (["first"], [])


def test_without_the_key_nothing_starts(badinput_host: JobsHost, job_database: JobDatabase):
    before = job_database.fingerprint()
    status, _ = send(badinput_host, "POST", f"/api/jobs/{JOB}/start", None, key=False)
    assert status == 401
    status, _ = send(badinput_host, "GET", "/api/credentials", key=False)
    assert status == 401
    assert job_database.fingerprint() == before
    assert nothing_done(badinput_host) == (["first"], [])
