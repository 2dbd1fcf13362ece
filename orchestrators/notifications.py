"""``notification_delivery``: one notification of one ended execution, tried until it is
delivered or its tries are used up, with a durable timer between tries (the wait the
``deliver_notification`` activity answers: 1 s, 2 s, 4 s, ... at most 5 min).

The job execution does not wait for it: the ``queue_notifications`` activity starts one such
orchestration per delivery once the execution has ended, so a delivery that fails, or takes
an hour of retries, never changes the execution's outcome or keeps it open.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators import bp
from orchestrators.fanout import BOOKKEEPING_RETRY, read_input
from sqlfleet.durable import names
from sqlfleet.durable.messages import Delivery, DeliveryAnswer, DeliveryOutcome
from sqlfleet.times import parse_utc


@bp.orchestration_trigger(context_name="context")
def notification_delivery(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Input a ``Delivery`` (its first try); output a ``DeliveryOutcome``."""
    delivery = Delivery.from_json(read_input(context))
    attempt = delivery.attempt
    while True:
        result = DeliveryAnswer.from_json(
            (yield context.call_activity_with_retry(
                names.DELIVER_NOTIFICATION,
                BOOKKEEPING_RETRY,
                dataclasses.replace(delivery, attempt=attempt).to_json(),
            ))
        )  # fmt: skip
        if not result.retry_at:
            return DeliveryOutcome(result.delivered, attempt).to_json()
        fire_at = parse_utc(result.retry_at)
        if fire_at > context.current_utc_datetime:
            yield context.create_timer(fire_at)
        attempt += 1
