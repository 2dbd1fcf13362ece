"""The activities of notifications: plan an ended execution's deliveries and start their
orchestrations (``queue_notifications``), and make one try of one delivery
(``deliver_notification``: the webhook POST or the SMTP conversation), recorded in the job
database either way."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from activities import bp, lanes
from sqlfleet import telemetry
from sqlfleet.connections import credential_auth
from sqlfleet.durable import names
from sqlfleet.durable.messages import Delivery, DeliveryAnswer
from sqlfleet.errors import SqlFleetError
from sqlfleet.models import utc_now
from sqlfleet.models.notifications import Channel, DeliveryStatus, retry_delay_seconds
from sqlfleet.notifications import SendResult, send_email, send_webhook
from sqlfleet.notifications.summary import execution_summary
from sqlfleet.runtime import job_store
from sqlfleet.telemetry.ids import execution_span

logger = logging.getLogger("sqlfleet.notifications")


@bp.activity_trigger(input_name="execution_id", activity=names.QUEUE_NOTIFICATIONS)
@bp.generic_input_binding(arg_name="client", type="durableClient")
def queue_notifications(execution_id: str, client: str) -> int:
    """Record the deliveries the ended execution calls for (its job's rules that name its
    lifecycle) and start one ``notification_delivery`` orchestration for each that is still
    pending; answers how many it started. Raises when the job database or the task hub fails
    (the orchestration retries the activity; a redelivery starts nothing twice)."""
    started = 0
    for delivery in job_store().plan_deliveries(execution_id):
        instance_id = names.notification_instance_id(execution_id, delivery.delivery_id)
        body = Delivery(execution_id, delivery.delivery_id, delivery.attempts + 1).to_json()
        if lanes.start_orchestration_once(
            client, names.DELIVER_NOTIFICATION_ORCHESTRATION, instance_id, body
        ):
            started += 1
    return started


@bp.activity_trigger(input_name="delivery", activity=names.DELIVER_NOTIFICATION)
def deliver_notification(delivery: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    """Input a ``Delivery``: one try. Answers a ``DeliveryAnswer``: delivered, or ``retry_at``
    when it failed and may be tried again. Raises only when the job database fails."""
    store = job_store()
    request = Delivery.from_json(delivery)
    delivery_id, attempt = request.delivery_id, request.attempt
    row, rule = store.get_delivery(delivery_id)
    if row.status != DeliveryStatus.PENDING or row.attempts >= attempt:
        return _answer(row.status, row.next_attempt_time).to_json()
    summary = execution_summary(
        store, row.job_execution_id, delivery_id=delivery_id, rule_name=rule.name
    )
    result = _send(store, rule, summary, delivery_id, attempt)
    retry_at = None
    if not result.delivered and attempt < row.max_attempts:
        retry_at = utc_now() + dt.timedelta(seconds=retry_delay_seconds(attempt))
    recorded = store.record_delivery_attempt(
        delivery_id,
        attempt,
        delivered=result.delivered,
        status_code=result.status_code,
        error=result.error,
        next_attempt_time=retry_at,
    )
    if not result.delivered:
        level = logging.WARNING if retry_at is None else logging.INFO
        with telemetry.joined(execution_span(row.job_execution_id)):
            logger.log(
                level,
                "notification %s of execution %s (rule '%s', try %d of %d) failed: %s",
                delivery_id,
                row.job_execution_id,
                rule.name,
                attempt,
                row.max_attempts,
                result.error,
            )
    return _answer(recorded.status, recorded.next_attempt_time).to_json()


def _send(
    store: Any, rule: Any, summary: dict[str, Any], delivery_id: str, attempt: int
) -> SendResult:
    if rule.channel == Channel.WEBHOOK:
        try:
            auth = credential_auth(store, rule.secret_credential_name, "webhook")
        except SqlFleetError as error:
            return SendResult(False, None, f"reading the signing secret: {error}")
        if not auth.password:
            return SendResult(False, None, "the signing credential has no password")
        return send_webhook(rule, summary, auth.password, delivery_id=delivery_id, attempt=attempt)
    user = password = None
    if rule.smtp_credential_name:
        try:
            auth = credential_auth(store, rule.smtp_credential_name, "smtp")
        except SqlFleetError as error:
            return SendResult(False, None, f"reading the SMTP credential: {error}")
        user, password = auth.user, auth.password
    return send_email(rule, summary, user=user, password=password)


def _answer(status: DeliveryStatus, retry_at: dt.datetime | None) -> DeliveryAnswer:
    again = None
    if status == DeliveryStatus.PENDING and retry_at is not None:
        again = retry_at.isoformat()
    return DeliveryAnswer(status == DeliveryStatus.DELIVERED, again)
