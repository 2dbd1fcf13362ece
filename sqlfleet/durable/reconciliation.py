"""Executions whose orchestration will not end them.

An execution's rows are moved by its ``job_execution`` orchestration alone. When that
orchestration is terminated from outside (the ``terminatePostUri`` that ``start`` answers),
purged (``purgeHistoryDeleteUri``) or fails in a way the orchestrator could not catch, nothing
would end the execution, and it would block ``remove`` and job deletes for good. So every few
seconds the ``reconcile_executions`` timer (``activities.reconciliation``) asks the task hub
about the orchestration of each active execution and ends those whose orchestration is over or
gone: ``Canceled`` when it was terminated or purged, ``Failed`` when it failed, every unfinished
step and target with it, each with a message that says what happened to the orchestration. Stop,
remove and job delete ask the same question about the executions in their way, so they never
wait for the timer. The retry lanes of an execution (orchestrations of their own, see
``orchestrators.fanout``) get the same treatment when their target's retry is overdue
(``settle_dead_retry_lanes``).

An ended execution is also what a cancel reads (``sqlfleet.durable.cancellation``): running
scripts notice within a second, and the sub-orchestrations a terminated parent leaves behind
(batches, lanes, retry lanes) find their targets ended and stop; those asleep on a retry timer
are woken.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df

from sqlfleet import telemetry
from sqlfleet.durable import names
from sqlfleet.durable.control import start_deliveries
from sqlfleet.durable.lanes import retry_sleepers, wake_sleepers
from sqlfleet.errors import IllegalTransition, first_line
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import JobExecution
from sqlfleet.settings import DEFAULT_OVERDUE_RETRY_SECONDS
from sqlfleet.store import JobStore

# ``start`` writes the execution before it starts the orchestration, and a schedule's
# activity does the same: a Created execution without one may be a start under way.
START_GRACE = dt.timedelta(seconds=30)
# How many status requests one pass has in flight at once.
STATUS_REQUESTS_AT_ONCE = 16
# A retry lane starts its target's next attempt when its timer fires: a target still waiting
# ``overdue_retry`` (SQLFLEET_OVERDUE_RETRY_SECONDS) after its time has its lane looked at (at
# most LANES_PER_PASS per execution).
OVERDUE_RETRY = dt.timedelta(seconds=DEFAULT_OVERDUE_RETRY_SECONDS)
LANES_PER_PASS = 50
_PAGE = 500
_OVER = {"Terminated": Lifecycle.CANCELED, "Canceled": Lifecycle.CANCELED}

logger = logging.getLogger("sqlfleet.reconciliation")


@dataclass(frozen=True)
class OrchestrationEnd:
    """How an execution must end because of what became of its orchestration."""

    lifecycle: Lifecycle
    message: str


async def reconcile_active(
    store: JobStore,
    client: df.DurableOrchestrationClient,
    now: dt.datetime,
    *,
    overdue_retry: dt.timedelta = OVERDUE_RETRY,
) -> list[JobExecution]:
    """One pass over every active execution; answers those it ended (and settles the dead
    retry lanes of those it did not, ``settle_dead_retry_lanes``). Raises what the store
    raises; a status the task hub cannot give leaves that execution for the next pass."""
    active: list[JobExecution] = []
    continuation = None
    while True:
        page = store.list_job_executions(active=True, top=_PAGE, continuation=continuation)
        active += page.items
        continuation = page.continuation
        if continuation is None:
            break
    gate = asyncio.Semaphore(STATUS_REQUESTS_AT_ONCE)

    async def one(execution: JobExecution) -> JobExecution | None:
        async with gate:
            try:
                fresh = await reconcile_execution(store, client, execution, now)
                if fresh.is_active:
                    await settle_dead_retry_lanes(store, client, fresh, now, overdue_retry)
            except Exception:  # noqa: BLE001 - the next pass asks again
                logger.warning(
                    "could not reconcile execution %s", execution.job_execution_id, exc_info=True
                )
                return None
        return None if fresh.is_active else fresh

    ended = await asyncio.gather(*(one(execution) for execution in active))
    return [execution for execution in ended if execution is not None]


async def reconcile_execution(
    store: JobStore,
    client: df.DurableOrchestrationClient,
    execution: JobExecution,
    now: dt.datetime,
    *,
    grace: dt.timedelta = START_GRACE,
) -> JobExecution:
    """End ``execution`` if its orchestration is over or gone (see ``orchestration_end``;
    ``grace`` is how long a Created execution may be without one); answers the execution as
    it is now, without target rows. Raises what the store or the durable client raise."""
    if not execution.is_active:
        return execution
    instance_id = execution.instance_id or names.execution_instance_id(execution.job_execution_id)
    status = await client.get_status(instance_id)
    end = orchestration_end(execution, instance_id, status, now, grace)
    if end is None:
        return execution
    sleepers = retry_sleepers(store, execution.job_execution_id)
    ended = store.end_job_execution(execution.job_execution_id, end.lifecycle, end.message)
    await wake_sleepers(client, sleepers)
    telemetry.execution_ended(ended)
    await start_deliveries(store, client, execution.job_execution_id)
    return ended


async def settle_dead_retry_lanes(
    store: JobStore,
    client: df.DurableOrchestrationClient,
    execution: JobExecution,
    now: dt.datetime,
    overdue_retry: dt.timedelta = OVERDUE_RETRY,
) -> list[int]:
    """A target of an unbounded step retries in a retry lane, an orchestration of its own that
    no parent watches. When that lane was terminated or purged, its target would wait for ever
    and its step with it. So a target whose retry is ``overdue_retry`` overdue has its lane
    looked at, and if the lane is over or gone the target fails with a message saying so; a
    step left without active targets is then told (``step_settled``), as the lane would have
    done. Answers the ordinals failed. Raises what the store or the durable client raise."""
    execution_id = execution.job_execution_id
    waiting = [
        target
        for target in store.list_target_executions(
            execution_id, lifecycle=Lifecycle.WAITING_FOR_RETRY
        )
        if target.next_attempt_start_time is not None
        and now - target.next_attempt_start_time > overdue_retry
    ]
    if not waiting:
        return []
    bounded = {
        step.step_id
        for step in store.get_execution_version(execution_id).steps
        if step.max_parallelism
    }
    # Bounded steps retry in their lanes, children of the execution: it sees them fail.
    suspects = sorted(
        (t for t in waiting if t.step_id not in bounded),
        key=lambda t: t.next_attempt_start_time or now,
    )[:LANES_PER_PASS]
    failed: list[int] = []
    settle: set[int] = set()
    for target in suspects:
        step_id, ordinal = target.step_id or 0, target.target_ordinal or 0
        lane = names.retry_instance_id(execution_id, step_id, ordinal)
        end = lane_end(lane, await client.get_status(lane))
        if end is None:
            continue
        try:
            store.transition(
                execution_id, Lifecycle.FAILED, step_id=step_id, ordinal=ordinal, message=end
            )
        except IllegalTransition:  # it moved on meanwhile: the lane was alive after all
            continue
        failed.append(ordinal)
        settle.add(step_id)
    for step_id in sorted(settle):
        if not store.list_target_executions(execution_id, step_id=step_id, active=True):
            await client.raise_event(
                names.execution_instance_id(execution_id), names.STEP_SETTLED_EVENT, step_id
            )
    return failed


def lane_end(instance_id: str, status: Any) -> str | None:
    """The message of a target whose retry lane's ``status`` says it will not retry it, or
    None while the lane runs. A pure function."""
    runtime = getattr(getattr(status, "runtime_status", None), "value", None)
    subject = f"the orchestration {instance_id} that retries this target"
    output = _one_line(getattr(status, "output", None))
    if not status or runtime is None:
        return f"{subject} is gone from the task hub (purged)"
    if runtime in _OVER:
        return f"{subject} was terminated" + (f": {output}" if output else " (no reason given)")
    if runtime in ("Failed", "Completed"):
        return f"{subject} ended ({runtime}) without ending it" + (
            f": {output}" if output and runtime == "Failed" else ""
        )
    return None


def orchestration_end(
    execution: JobExecution,
    instance_id: str,
    status: Any,
    now: dt.datetime,
    grace: dt.timedelta = START_GRACE,
) -> OrchestrationEnd | None:
    """How an active execution must end given its orchestration's ``status`` (the durable
    client's answer; falsy when the task hub has no such instance), or None while the
    orchestration may still end it. A pure function."""
    runtime = getattr(getattr(status, "runtime_status", None), "value", None)
    if not status or runtime is None:
        if execution.lifecycle == Lifecycle.CREATED and now - execution.create_time < grace:
            return None
        if execution.lifecycle == Lifecycle.CREATED:
            return OrchestrationEnd(
                Lifecycle.CANCELED,
                f"the orchestration {instance_id} was never started (the task hub has no such "
                "instance)",
            )
        return OrchestrationEnd(
            Lifecycle.CANCELED,
            f"the orchestration {instance_id} is gone from the task hub (purged)",
        )
    output = _one_line(getattr(status, "output", None))
    if runtime in _OVER:
        why = f": {output}" if output else " (no reason given)"
        return OrchestrationEnd(
            _OVER[runtime], f"the orchestration {instance_id} was terminated{why}"
        )
    if runtime == "Failed":
        why = f": {output}" if output else ""
        return OrchestrationEnd(Lifecycle.FAILED, f"the orchestration {instance_id} failed{why}")
    if runtime == "Completed":
        return OrchestrationEnd(
            Lifecycle.FAILED,
            f"the orchestration {instance_id} completed without ending the execution",
        )
    return None


def _one_line(value: object) -> str:
    return first_line("" if value is None else value, 500, "")
