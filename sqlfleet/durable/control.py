"""What the API and the timers ask of the task hub about an execution's orchestrations."""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

from sqlfleet.durable import names
from sqlfleet.durable.messages import Delivery

logger = logging.getLogger("sqlfleet.notifications")

_FINISHED_NAMES = {
    status.value
    for status in (
        df.OrchestrationRuntimeStatus.Completed,
        df.OrchestrationRuntimeStatus.Failed,
        df.OrchestrationRuntimeStatus.Terminated,
    )
} | {"Canceled"}


async def purge_instances(client: df.DurableOrchestrationClient, execution_id: str) -> int:
    """Purge the finished orchestrations of an execution (its own, its batches, lanes and retry
    lanes: every instance id starts with the execution id); returns how many went."""
    purged = 0
    while True:
        # One page at a time: purged instances leave the listing, running ones stay.
        page = await client.get_status_by(instance_id_prefix=execution_id)
        finished = [
            status
            for status in page
            if getattr(status.runtime_status, "value", None) in _FINISHED_NAMES
        ]
        for status in finished:
            await client.purge_instance_history(status.instance_id)
        purged += len(finished)
        if not finished:
            return purged


async def start_deliveries(store: Any, client: Any, execution_id: str) -> int:
    """What ``queue_notifications`` does, with the SDK's durable client (for executions ended
    outside their orchestration: ``sqlfleet.durable.reconciliation``). Never raises: the execution
    has ended either way; a failure is logged."""
    started = 0
    try:
        for delivery in store.plan_deliveries(execution_id):
            instance_id = names.notification_instance_id(execution_id, delivery.delivery_id)
            status = await client.get_status(instance_id)
            if status and getattr(status, "runtime_status", None):
                continue
            body = Delivery(execution_id, delivery.delivery_id, delivery.attempts + 1)
            await client.start_new(
                names.DELIVER_NOTIFICATION_ORCHESTRATION, instance_id, body.to_json()
            )
            started += 1
    except Exception:  # noqa: BLE001 - see the docstring
        logger.warning("notifications of execution %s not started", execution_id, exc_info=True)
    return started
