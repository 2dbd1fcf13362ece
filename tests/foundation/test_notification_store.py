"""The job store's notification rules and deliveries, on SQLite and PostgreSQL: rules are
written and read with the job, an ended execution plans one delivery per matching rule (once,
however often asked), tries are recorded once each, and deliveries go with their execution."""

from __future__ import annotations

import datetime as dt

import pytest

from sqlfleet.credentials import seal
from sqlfleet.errors import InUse, NotFound, ValidationFailed
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import CredentialIn, JobIn, TargetGroupIn
from sqlfleet.models.validation import validate_document
from sqlfleet.settings import Settings
from sqlfleet.store import SqlJobStore
from tests.support.clocks import Clock

HOOK = {
    "name": "hook",
    "lifecycles": ["Failed", "TimedOut"],
    "channel": "webhook",
    "url": "https://hooks.example.org/x",
    "secret_credential_name": "hook-secret",
}
MAIL = {
    "name": "mail",
    "lifecycles": ["Succeeded"],
    "channel": "email",
    "to": ["dba@example.org"],
    "from_address": "fleet@example.org",
    "smtp_server": "smtp.example.org",
}


@pytest.fixture
def job(store: SqlJobStore, clock: Clock, settings: Settings) -> str:
    store.put_credential(
        seal(
            "hook-secret",
            validate_document(
                CredentialIn, {"kind": "password", "username": "u", "password": "hook-key-1234"}
            ),
            settings,
        )
    )
    store.put_target_group(
        "g",
        validate_document(
            TargetGroupIn,
            {"members": [{"target_type": "database", "server_name": "s", "database_name": "d"}]},
        ),
    )
    document = {
        "steps": [{"command": "SELECT 1", "target_group_name": "g"}],
        "notifications": [HOOK, MAIL],
    }
    store.put_job("j", validate_document(JobIn, document))
    return "j"


def test_rules_are_kept_with_the_job(store: SqlJobStore, job: str) -> None:
    assert [rule.name for rule in store.get_job(job).notifications] == ["hook", "mail"]
    # A PUT without notifications keeps them; an empty list removes them.
    store.put_job(job, validate_document(JobIn, {"description": "changed"}))
    assert [rule.name for rule in store.get_notification_rules(job)] == ["hook", "mail"]
    assert store.put_notification_rules(job, []) == []
    assert store.get_job(job).notifications == []
    with pytest.raises(ValidationFailed) as refused:
        store.put_notification_rules(
            job,
            [
                validate_document(
                    JobIn, {"notifications": [{**HOOK, "secret_credential_name": "nope"}]}
                ).notifications[0]
            ],  # type: ignore[index]  # fmt: skip
        )
    assert "notifications[0].secret_credential_name" in str(refused.value.problems)
    with pytest.raises(NotFound):
        store.get_notification_rules("no-such-job")


def test_an_ended_execution_plans_its_deliveries_once(store: SqlJobStore, job: str) -> None:
    execution = store.create_job_execution(job, instance_id="i")
    assert store.plan_deliveries(execution.job_execution_id) == []  # still active
    store.end_job_execution(execution.job_execution_id, Lifecycle.FAILED, "stopped")
    (planned,) = store.plan_deliveries(execution.job_execution_id)
    assert (planned.rule_name, planned.lifecycle, planned.attempts) == ("hook", "Failed", 0)
    assert planned.destination == "https://hooks.example.org/x"
    assert store.plan_deliveries(execution.job_execution_id) == [planned]

    later = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    first = store.record_delivery_attempt(
        planned.delivery_id, 1, delivered=False, status_code=500, error="busy",
        next_attempt_time=later,
    )  # fmt: skip
    assert (first.status.value, first.attempts, first.next_attempt_time) == ("Pending", 1, later)
    again = store.record_delivery_attempt(planned.delivery_id, 1, delivered=True)
    assert again == first  # a try recorded already is not recorded twice
    done = store.record_delivery_attempt(planned.delivery_id, 2, delivered=True, status_code=200)
    assert (done.status.value, done.attempts, done.last_status_code) == ("Delivered", 2, 200)
    assert done.delivered_time is not None and done.next_attempt_time is None
    assert store.plan_deliveries(execution.job_execution_id) == []  # nothing pending

    _, rule = store.get_delivery(planned.delivery_id)
    assert rule.secret_credential_name == "hook-secret"
    store.purge_execution(execution.job_execution_id)
    assert store.list_deliveries(execution.job_execution_id) == []


def test_a_delivery_out_of_tries_fails(store: SqlJobStore, job: str) -> None:
    execution = store.create_job_execution(job, instance_id="i")
    store.end_job_execution(execution.job_execution_id, Lifecycle.FAILED, "gone")
    (planned,) = store.plan_deliveries(execution.job_execution_id)
    failed = store.record_delivery_attempt(
        planned.delivery_id, 1, delivered=False, error="refused", next_attempt_time=None
    )
    assert failed.status.value == "Failed" and failed.last_error == "refused"
    store.delete_job(job)
    assert store.list_deliveries(execution.job_execution_id) == []


def test_a_credential_a_rule_names_cannot_be_deleted(store: SqlJobStore, job: str) -> None:
    with pytest.raises(InUse) as refused:
        store.delete_credential("hook-secret")
    assert "job 'j' notification 'hook'" in str(refused.value)
    store.put_notification_rules(job, [])
    store.delete_credential("hook-secret")


def test_a_webhook_url_carries_no_password() -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_document(
            JobIn, {"notifications": [{**HOOK, "url": "https://u:p@hooks.example.org/x"}]}
        )
    assert "notifications[0].url" in str(refused.value.problems)
