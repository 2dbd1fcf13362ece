"""What the API and the timers ask of the task hub about an execution's orchestrations."""

from __future__ import annotations

import azure.durable_functions as df

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
