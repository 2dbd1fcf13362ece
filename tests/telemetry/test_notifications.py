"""Notifications of real executions on the real local host: a signed webhook to a receiver
this test starts (within 5 s of the execution's end, retried through 500s), e-mail to a local
SMTP server (aiosmtpd) with a sign-in, the deliveries as the API shows them, and bad rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.jobs.fleet import sqlite_folder_member, step, unique
from tests.jobs.host import poll
from tests.support.http_receiver import HttpReceiver, ReceivedRequest
from tests.support.servers import free_port
from tests.telemetry.conftest import TelemetryHost

HOOK_SECRET = "whsec-2f9c1d7e5a"
SMTP_PASSWORD = "smtp-pass-71c3e9"
FAILS = "SELECT CASE WHEN '$(target_database_name)' LIKE 'bad%' THEN abs(-9223372036854775808) END;"


@pytest.fixture(scope="module")
def fleet(telemetry_host: TelemetryHost, sqlite_root: Path) -> str:
    """A target group of two SQLite databases, ``ok`` and ``bad``, and the credentials."""
    folder = sqlite_root / unique("notify")
    folder.mkdir()
    for name in ("ok", "bad"):
        sqlite3.connect(folder / f"{name}.db").close()
    group = unique("group")
    telemetry_host.ok("PUT", f"/api/target-groups/{group}", {"members": []})
    telemetry_host.ok("POST", f"/api/target-groups/{group}/members", sqlite_folder_member(folder))
    telemetry_host.ok(
        "PUT",
        "/api/credentials/hook-secret",
        {"kind": "password", "username": "webhook", "password": HOOK_SECRET},
    )
    telemetry_host.ok(
        "PUT",
        "/api/credentials/smtp-login",
        {"kind": "password", "username": "mailer", "password": SMTP_PASSWORD},
    )
    return group


def _job(host: TelemetryHost, group: str, rules: list[dict[str, Any]]) -> str:
    job = unique("notified")
    host.put_job(job, [step("fails", FAILS, group)], notifications=rules)
    return job


def _webhook(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "ops-hook",
        "lifecycles": ["Failed", "TimedOut"],
        "channel": "webhook",
        "url": url,
        "secret_credential_name": "hook-secret",
        **fields,
    }


def _ended(execution: dict[str, Any]) -> float:
    end = dt.datetime.fromisoformat(execution["end_time"].replace("Z", "+00:00"))
    return end.timestamp()


def _deliveries(host: TelemetryHost, execution_id: str) -> list[dict[str, Any]]:
    return list(host.ok("GET", f"/api/executions/{execution_id}/notifications")["value"])


def test_a_failing_job_calls_a_signed_webhook_within_five_seconds(
    telemetry_host: TelemetryHost, fleet: str
) -> None:
    arrivals: list[float] = []

    def answer(request: ReceivedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        arrivals.append(time.time())
        return 204, [], b""

    with HttpReceiver(answer) as receiver:
        job = _job(telemetry_host, fleet, [_webhook(receiver.base + "/hooks/sqlfleet?x=1")])
        assert telemetry_host.ok("GET", f"/api/jobs/{job}/notifications")["notifications"][0][
            "url"
        ].endswith("/hooks/sqlfleet?x=1")
        execution = telemetry_host.run_job(job)
        assert execution["lifecycle"] == "Failed"
        (request,) = receiver.wait_for_requests(1, timeout=10)
    assert arrivals[0] - _ended(execution) < 5
    assert request.method == "POST" and request.path == "/hooks/sqlfleet?x=1"
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-SqlFleet-Signature"], expected)
    assert request.headers["X-SqlFleet-Event"] == "execution.ended"
    assert HOOK_SECRET.encode() not in request.body
    summary = json.loads(request.body)
    assert summary["job_execution_id"] == execution["job_execution_id"]
    assert summary["job_name"] == job and summary["lifecycle"] == "Failed"
    assert summary["steps"][0]["targets"] == {"Failed": 1, "Succeeded": 1}
    assert request.headers["X-SqlFleet-Delivery"] == summary["delivery_id"]

    (delivery,) = _deliveries(telemetry_host, execution["job_execution_id"])
    assert delivery["status"] == "Delivered" and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 204
    assert delivery["destination"] == receiver.base + "/hooks/sqlfleet"
    assert delivery["rule_name"] == "ops-hook" and delivery["channel"] == "webhook"


def test_a_receiver_that_answers_500_twice_gets_the_third_delivery(
    telemetry_host: TelemetryHost, fleet: str
) -> None:
    def answer(request: ReceivedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        return (500, [], b"busy") if answer.calls < 2 else (200, [], b"ok")  # type: ignore[attr-defined]

    answer.calls = 0  # type: ignore[attr-defined]

    def counting(request: ReceivedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        reply = answer(request)
        answer.calls += 1  # type: ignore[attr-defined]
        return reply

    with HttpReceiver(counting) as receiver:
        job = _job(telemetry_host, fleet, [_webhook(receiver.base + "/hook")])
        execution = telemetry_host.run_job(job)
        execution_id = execution["job_execution_id"]
        requests = receiver.wait_for_requests(3, timeout=20)

        def delivered() -> dict[str, Any] | None:
            (delivery,) = _deliveries(telemetry_host, execution_id)
            return delivery if delivery["status"] == "Delivered" else None

        delivery = poll(delivered, 10, "the delivery to be recorded")
    assert [r.headers["X-SqlFleet-Attempt"] for r in requests] == ["1", "2", "3"]
    bodies = {r.body for r in requests}
    for request in requests:  # every try is signed
        expected = hmac.new(HOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-SqlFleet-Signature"] == f"sha256={expected}"
    assert len(bodies) == 1
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200
    # The failed deliveries changed nothing about the execution.
    assert telemetry_host.execution(execution_id)["lifecycle"] == "Failed"


def test_an_unreachable_webhook_never_changes_the_execution(
    telemetry_host: TelemetryHost, fleet: str
) -> None:
    job = _job(
        telemetry_host,
        fleet,
        [_webhook(f"http://127.0.0.1:{free_port()}/gone", lifecycles=["Failed"])],
    )
    execution = telemetry_host.run_job(job)
    execution_id = execution["job_execution_id"]

    def tried_twice() -> dict[str, Any] | None:
        deliveries = _deliveries(telemetry_host, execution_id)
        if not deliveries:  # recorded a moment after the execution's end is seen
            return None
        (delivery,) = deliveries
        return delivery if delivery["attempts"] >= 2 else None

    delivery = poll(tried_twice, 15, "two failed tries")
    assert delivery["status"] == "Pending" and delivery["next_attempt_time"]
    assert "could not be reached" in delivery["last_error"]
    assert telemetry_host.execution(execution_id)["lifecycle"] == "Failed"


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        with self.lock:
            self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == SMTP_PASSWORD.encode())


@pytest.fixture
def smtp_server() -> Iterator[tuple[_Mailbox, int]]:
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def test_an_email_reaches_a_local_smtp_server(
    telemetry_host: TelemetryHost, fleet: str, smtp_server: tuple[_Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    rule = {
        "name": "mail-dba",
        "lifecycles": ["Failed"],
        "channel": "email",
        "to": ["dba@example.org", "oncall@example.org"],
        "from_address": "sqlfleet@example.org",
        "smtp_server": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_credential_name": "smtp-login",
    }
    job = _job(telemetry_host, fleet, [rule])
    execution = telemetry_host.run_job(job)
    poll(lambda: mailbox.messages, 10, "an e-mail")
    (envelope,) = mailbox.messages
    assert mailbox.logins == [(b"mailer", SMTP_PASSWORD.encode())]
    assert envelope.mail_from == "sqlfleet@example.org"
    assert sorted(envelope.rcpt_tos) == ["dba@example.org", "oncall@example.org"]
    text = envelope.content.decode()
    assert f"Subject: SQL Fleet: job '{job}' execution Failed" in text
    assert execution["job_execution_id"] in text
    assert SMTP_PASSWORD not in text

    def delivered() -> dict[str, Any] | None:
        (delivery,) = _deliveries(telemetry_host, execution["job_execution_id"])
        return delivery if delivery["status"] == "Delivered" else None

    delivery = poll(delivered, 10, "the e-mail delivery")
    assert delivery["destination"] == "dba@example.org, oncall@example.org"


def test_rules_that_do_not_fire_deliver_nothing(telemetry_host: TelemetryHost, fleet: str) -> None:
    job = _job(telemetry_host, fleet, [_webhook("http://127.0.0.1:9/x", lifecycles=["Succeeded"])])
    execution = telemetry_host.run_job(job)
    assert execution["lifecycle"] == "Failed"
    assert _deliveries(telemetry_host, execution["job_execution_id"]) == []


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"lifecycles": ["InProgress"]}, "notifications[0].lifecycles[0]"),
        ({"url": None}, "notifications[0].url"),
        ({"url": "ftp://example.org/x"}, "notifications[0].url"),
        (
            {"secret_credential_name": "no-such-credential"},
            "notifications[0].secret_credential_name",
        ),
        ({"to": ["a@example.org"]}, "notifications[0].to"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    telemetry_host: TelemetryHost, fleet: str, rule: dict[str, Any], field: str
) -> None:
    job = _job(telemetry_host, fleet, [])
    document = {"notifications": [{**_webhook("http://127.0.0.1:9/x"), **rule}]}
    reply = telemetry_host.call("PUT", f"/api/jobs/{job}/notifications", document)
    assert reply.status in (400, 422), reply.body
    assert reply.body["field"] == field, reply.body
    assert telemetry_host.ok("GET", f"/api/jobs/{job}/notifications")["notifications"] == []


LONG = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
    "SELECT count(*) FROM c;"
)


def test_an_execution_ended_from_outside_notifies_too(
    telemetry_host: TelemetryHost, fleet: str
) -> None:
    """Its orchestration terminated, the reconciliation timer ends the execution Canceled, and
    the rules for Canceled fire all the same."""
    with HttpReceiver(lambda request: (200, [], b"")) as receiver:
        job = unique("terminated")
        telemetry_host.put_job(
            job,
            [step("long", LONG, fleet)],
            notifications=[_webhook(receiver.base + "/ended", lifecycles=["Canceled"])],
        )
        started = telemetry_host.call("POST", f"/api/jobs/{job}/start")
        assert started.status == 202, started.body
        execution_id = started.body["job_execution_id"]
        poll(
            lambda: any(
                t["lifecycle"] == "InProgress" for t in telemetry_host.targets(execution_id)
            ),
            20,
            "the long script to start",
        )
        terminate = urlsplit(started.body["terminatePostUri"].replace("{text}", "test"))
        reply = telemetry_host.call("POST", f"{terminate.path}?{terminate.query}")
        assert reply.status == 202, reply.body
        (request,) = receiver.wait_for_requests(1, timeout=20)
    summary = json.loads(request.body)
    assert summary["job_execution_id"] == execution_id and summary["lifecycle"] == "Canceled"
    assert "terminated" in summary["last_message"]
