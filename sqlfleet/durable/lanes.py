"""Which orchestration of an execution holds a target: lanes and retry lanes.

A step with ``max_parallelism`` K runs in K lanes (sub-orchestrations of the execution), lane k
taking the ordinals k, k + K, k + 2K, ...; a step without one runs first attempts at once and
gives each target that must retry a retry lane of its own. A cancel must wake the lanes asleep
on a retry timer: ``retry_sleepers`` names them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import azure.durable_functions as df

from sqlfleet.durable import names
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.store import JobStore

logger = logging.getLogger("sqlfleet.lanes")


def lane_of(ordinal: int, lanes: int) -> int:
    """The lane (0-based) of target ``ordinal`` when a step runs in ``lanes`` lanes."""
    return ordinal % lanes


def retry_sleepers(store: JobStore, execution_id: str) -> list[str]:
    """Instance ids of the orchestrations that sleep on a retry timer of the execution (the
    ones a cancel must wake: everything else looks at the job database before each attempt)."""
    waiting = store.list_target_executions(execution_id, lifecycle=Lifecycle.WAITING_FOR_RETRY)
    if not waiting:
        return []
    parallelism = {
        step.step_id: step.max_parallelism
        for step in store.get_execution_version(execution_id).steps
    }
    sizes: dict[int, int] | None = None
    found = set()
    for target in waiting:
        step_id, ordinal = target.step_id or 0, target.target_ordinal or 0
        bound = parallelism.get(step_id)
        if bound:
            if sizes is None:  # every step's number of targets, counted in one read
                progress = store.target_progress(execution_id)
                sizes = {step: counted.targets for step, counted in progress.items()}
            # orchestrators.executions gives lane k the ordinals k, k + lanes, k + 2 lanes, ...
            lanes = min(bound, sizes.get(step_id, 1))
            found.add(names.lane_instance_id(execution_id, step_id, lane_of(ordinal, lanes)))
        else:
            found.add(names.retry_instance_id(execution_id, step_id, ordinal))
    return sorted(found)


async def wake_sleepers(client: df.DurableOrchestrationClient, sleepers: Iterable[str]) -> None:
    """Raise the ``cancel`` event on each of ``sleepers`` (``retry_sleepers``); one that ended
    meanwhile, or has not started yet, takes none and reads the job database itself."""
    for instance_id in sleepers:
        try:
            await client.raise_event(instance_id, names.CANCEL_EVENT, None)
        except Exception:  # noqa: BLE001 - see the docstring
            logger.debug("cancel: %s takes no events", instance_id, exc_info=True)
