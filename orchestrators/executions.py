"""The job execution orchestrator: a job version's steps, in order, each fanned out over targets.

Histories stay small: targets are addressed by their ordinal within a step (the activities look the
rows up), and a step's targets are handled by sub-orchestrations (``orchestrators.fanout``). A
step ends when every target has: when retry lanes still hold some after the fan-out returned, the
execution waits for their ``step_settled`` event. A small step (up to 1,000 SQLite files on
the host, or up to a batch of other targets) takes no turns of its own: the activity that
expands it (``begin_execution`` for the first, ``expand_step`` for the others) runs and ends it
too, and answers how it ended (``ran``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators import bp
from orchestrators.fanout import BOOKKEEPING_RETRY, read_input
from sqlfleet.durable import names
from sqlfleet.durable.messages import (
    BatchInput,
    ExecutionAbort,
    ExecutionEnd,
    ExecutionFinish,
    ExecutionStart,
    Expansion,
    LaneInput,
    Plan,
    PlannedStep,
    StepEnd,
    StepOutcome,
    StepRef,
    StepStart,
    TargetRange,
    TargetRun,
)
from sqlfleet.errors import first_line
from sqlfleet.telemetry.ids import step_traceparent

# Queueing notifications only touches the job database and the task hub: a few tries.
NOTIFICATION_RETRY = df.RetryOptions(
    first_retry_interval_in_milliseconds=2000, max_number_of_attempts=5
)


@bp.orchestration_trigger(context_name="context")
def job_execution(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Input an ``ExecutionStart``; output the execution's ``ExecutionEnd``."""
    result = yield from run_execution(context)
    return result


def run_execution(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """The body of ``job_execution`` (a plain generator: the decorator hides the function).

    Whatever fails here (a bookkeeping activity out of retries, a bug) ends the execution
    ``Failed`` with a message that says so; what cannot be caught here (a terminate, a purge)
    is ended by ``activities.reconciliation``."""
    execution_id = ExecutionStart.from_json(read_input(context)).job_execution_id
    try:
        result = yield from _run_steps(context, execution_id)
    except Exception as error:  # noqa: BLE001 - the execution must end, and say why
        message = f"the orchestration {context.instance_id} failed: {first_line(str(error))}"
        result = ExecutionEnd.from_json(
            (yield context.call_activity_with_retry(
                names.END_EXECUTION,
                BOOKKEEPING_RETRY,
                ExecutionAbort(execution_id, "Failed", message).to_json(),
            ))
        )  # fmt: skip
    # The job's notification rules: each delivery is an orchestration of its own, so whatever
    # happens to it (or to queueing it) never changes how the execution ended.
    with contextlib.suppress(Exception):
        yield context.call_activity_with_retry(
            names.QUEUE_NOTIFICATIONS, NOTIFICATION_RETRY, execution_id
        )
    # The SDK drops a None custom status, so the last one says how the execution ended.
    context.set_custom_status({"lifecycle": result.lifecycle})
    return result.to_json()


def _run_steps(
    context: df.DurableOrchestrationContext, execution_id: str
) -> Generator[Any, Any, ExecutionEnd]:
    plan = Plan.from_json(
        (yield context.call_activity_with_retry(
            names.BEGIN_EXECUTION, BOOKKEEPING_RETRY, execution_id
        ))
    )  # fmt: skip
    failure = None
    for index, step in enumerate(plan.steps):
        # The step's span in the execution's trace goes to every activity of the step.
        ref = StepRef(execution_id, step.step_id, step_traceparent(execution_id, step.step_id))
        # The last step's finish (or a stopping one's) ends the execution as well.
        last = index == len(plan.steps) - 1
        if index == 0 and plan.first is not None:
            expansion = plan.first  # begin_execution expanded it
            ran = plan.ran  # and ran it to its end if it was small
        else:
            start = StepStart(ref, StepEnd(ref, None, last, failure, step.on_failure))
            expansion = Expansion.from_json(
                (yield context.call_activity_with_retry(
                    names.EXPAND_STEP, BOOKKEEPING_RETRY, start.to_json()
                ))
            )  # fmt: skip
            ran = expansion.ran
        error = None
        if expansion.targets:
            context.set_custom_status({"step_id": step.step_id, "targets": expansion.targets})
        if ran is None and expansion.targets:
            error = yield from _run_step(context, ref, step, expansion, plan)
            failure = error or failure
        finishing = StepEnd(ref, error, last, failure, step.on_failure).to_json()
        outcome = ran or StepOutcome.from_json(
            (yield context.call_activity_with_retry(
                names.FINISH_STEP, BOOKKEEPING_RETRY, finishing
            ))
        )  # fmt: skip
        while outcome.pending:
            # Retry lanes still hold targets; the last one to end raises the event. An event
            # left over from an earlier step only costs one more look.
            yield context.wait_for_external_event(names.STEP_SETTLED_EVENT)
            outcome = StepOutcome.from_json(
                (yield context.call_activity_with_retry(
                    names.FINISH_STEP, BOOKKEEPING_RETRY, finishing
                ))
            )  # fmt: skip
        if outcome.execution is not None:
            return outcome.execution
        if outcome.stop:
            break
    finish = ExecutionFinish(execution_id, failure)
    return ExecutionEnd.from_json(
        (yield context.call_activity_with_retry(
            names.FINISH_EXECUTION, BOOKKEEPING_RETRY, finish.to_json()
        ))
    )  # fmt: skip


def _run_step(
    context: df.DurableOrchestrationContext,
    ref: StepRef,
    step: PlannedStep,
    expansion: Expansion,
    plan: Plan,
) -> Generator[Any, Any, str | None]:
    """The first attempts of the step's targets: in place or in children (see the module);
    answers why the step could not finish, or None."""
    if plan.in_place(expansion.targets, step.max_parallelism, expansion.local):
        chunk = plan.chunk_for(expansion.targets, expansion.local)
        return (yield from _run_in_place(context, ref, expansion.targets, chunk, expansion.local))
    return (yield from _run_in_children(context, ref, step, expansion, plan))


def _run_in_place(
    context: df.DurableOrchestrationContext, ref: StepRef, count: int, chunk: int, local: bool
) -> Generator[Any, Any, str | None]:
    """First attempts of every target at once, one ``run_target`` each or ``run_targets``
    chunks of ``chunk`` (retries continue in retry lanes, as from a ``step_batch``); answers
    why the step could not finish, or None."""
    try:
        if chunk == 1:
            yield context.task_all(
                [
                    context.call_activity_with_retry(
                        names.RUN_TARGET,
                        BOOKKEEPING_RETRY,
                        TargetRun(ref, ordinal, 1, retry_lane=True).to_json(),
                    )
                    for ordinal in range(count)
                ]
            )
        else:
            ranges = [(first, min(count, first + chunk)) for first in range(0, count, chunk)]
            handled = yield context.task_all(
                [
                    context.call_activity_with_retry(
                        names.RUN_TARGETS,
                        BOOKKEEPING_RETRY,
                        TargetRange(ref, first, last, local).to_json(),
                    )
                    for first, last in ranges
                ]
            )
            # A chunk that found no target slot handled nothing. Its wait goes to a step_batch,
            # which waits in histories of its own, so that this one does not grow with it.
            deferred = tuple(pair for pair, done in zip(ranges, handled, strict=True) if not done)
            if deferred:
                batch = BatchInput(ref, 0, count, chunk, local, deferred)
                instance_id = names.batch_instance_id(ref.job_execution_id, ref.step_id, 0)
                yield context.call_sub_orchestrator(names.STEP_BATCH, batch.to_json(), instance_id)
    except Exception as error:  # noqa: BLE001 - recorded on the step, never lost
        return f"running the targets of step {ref.step_id} failed: {first_line(str(error))}"
    return None


def _run_in_children(
    context: df.DurableOrchestrationContext,
    ref: StepRef,
    step: PlannedStep,
    expansion: Expansion,
    plan: Plan,
) -> Generator[Any, Any, str | None]:
    children = _fan_out(context, ref, expansion.targets, step.max_parallelism, plan,
                        expansion.local)  # fmt: skip
    try:
        yield context.task_all([task for _, task in children])
    except Exception as error:  # noqa: BLE001 - recorded on the step, never lost
        return _child_failure(children, step.step_id, error)
    return None


def _child_failure(children: list[tuple[str, Any]], step_id: int, error: Exception) -> str:
    """What to record when a step's sub-orchestration failed (or was terminated: its parent
    cannot tell the two apart): which one, and its reason."""
    failed = next(
        (
            instance_id
            for instance_id, task in children
            if getattr(getattr(task, "state", None), "name", "") == "FAILED"
        ),
        None,
    )
    which = f"the orchestration {failed}" if failed else "a sub-orchestration"
    return f"{which} of step {step_id} failed: {first_line(str(error))}"


def _fan_out(
    context: df.DurableOrchestrationContext,
    ref: StepRef,
    count: int,
    max_parallelism: int | None,
    plan: Plan,
    local: bool,
) -> list[tuple[str, Any]]:
    """One sub-orchestration per lane (bounded parallelism) or per batch (unbounded; big steps
    hand their batches' targets to the activities in chunks, marked ``local`` when they are
    all SQLite files on the host), each with its instance id."""
    execution_id, step_id = ref.job_execution_id, ref.step_id
    if max_parallelism:
        lanes = min(int(max_parallelism), count)
        lane_ids = [names.lane_instance_id(execution_id, step_id, lane) for lane in range(lanes)]
        return [
            (
                instance_id,
                context.call_sub_orchestrator(
                    names.STEP_LANE, LaneInput(ref, lane, lanes, count).to_json(), instance_id
                ),
            )
            for lane, instance_id in enumerate(lane_ids)
        ]
    chunk = plan.chunk_for(count, local)
    span = plan.batch_span(count, chunk)
    batch_ids = [
        names.batch_instance_id(execution_id, step_id, batch)
        for batch in range(math.ceil(count / span))
    ]
    return [
        (
            instance_id,
            context.call_sub_orchestrator(
                names.STEP_BATCH,
                BatchInput(
                    ref,
                    batch * span,
                    min(count, (batch + 1) * span),
                    chunk,
                    local and chunk > 1,
                ).to_json(),
                instance_id,
            ),
        )
        for batch, instance_id in enumerate(batch_ids)
    ]
