"""Activities that move an execution through its lifecycle in the job database.

They are idempotent (delivery is at least once): repeating one finds the work already done.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

import azure.durable_functions as df

from activities import bp
from activities.targets import run_ranges
from sqlfleet import memory, telemetry
from sqlfleet.alerts import report_failed_targets
from sqlfleet.durable import cancellation, names
from sqlfleet.durable.messages import (
    CancelRange,
    ExecutionAbort,
    ExecutionEnd,
    ExecutionFinish,
    Expansion,
    Plan,
    PlannedStep,
    RetryEnd,
    StepEnd,
    StepOutcome,
    StepRef,
    StepStart,
    TargetRange,
)
from sqlfleet.engine import Engine
from sqlfleet.errors import IllegalTransition, SqlFleetError, TargetsStillActive
from sqlfleet.expansion import resolve_targets
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import ExecutionRow, JobExecution
from sqlfleet.models.jobs import OnFailure
from sqlfleet.runtime import job_store
from sqlfleet.scriptruns import LOCAL_CHUNKS_AT_ONCE, script_runner
from sqlfleet.store import JobStore
from sqlfleet.telemetry.ids import step_traceparent

logger = logging.getLogger("sqlfleet.activities")

# Targets per step_batch sub-orchestration: bounds each history to a few hundred events.
BATCH_SIZE = 100
# Steps of more than MAX_BATCHES * BATCH_SIZE targets get bigger batches instead of more of
# them: each child's end replays the execution's history, which holds every child.
MAX_BATCHES = 100
# Steps with at least CHUNK_FROM targets hand them to run_targets CHUNK_SIZE at a time: each
# activity invocation costs the durable engine more than a target attempt costs SQL Fleet, and
# with that many targets every activity slot has a long queue anyway.
CHUNK_SIZE = 10
CHUNK_FROM = 500
# Steps of SPREAD_FROM targets or more (below CHUNK_FROM) are spread over about SPREAD
# run_targets activities of a few targets each (one job database transaction per turn)
# instead of one run_target each: fewer activities, replays and transactions per target.
SPREAD_FROM = 40
SPREAD = 16
# Local targets (SQLite files on this host) cost the engine even less each and run a few at a
# time anyway (sqlfleet.scriptruns.LOCAL_CHUNKS_AT_ONCE): their chunks are whole batches.
LOCAL_CHUNK_SIZE = BATCH_SIZE
# A step of fewer than SPREAD_FROM SQLite files on the host runs in LOCAL_PARTS run_targets
# activities (in the script processes, turn by turn) rather than one run_target per target.
LOCAL_PARTS = 2
# Mid-size steps of local targets are spread over as many chunks as this host runs at once.
LOCAL_SPREAD = LOCAL_CHUNKS_AT_ONCE
# A step of at most this many SQLite files of the host runs within the activity that expands
# it (when its chunks run in place: up to LOCAL_SPREAD chunks of LOCAL_CHUNK_SIZE); so does a
# step of up to BATCH_SIZE other targets, in about SPREAD ranges.
QUICK_TARGETS = LOCAL_SPREAD * LOCAL_CHUNK_SIZE
# A step of this many targets or more gives the host's free C heap back once it ends.
TRIM_AFTER_TARGETS = 1000


@bp.activity_trigger(input_name="execution_id", activity=names.BEGIN_EXECUTION)
@bp.generic_input_binding(arg_name="client", type="durableClient")
def begin_execution(execution_id: str, client: str) -> dict[str, Any]:
    """Mark the execution InProgress; answer the plan of its job version (names, no secrets)
    with its first step already expanded (``first``: what ``expand_step`` answers), which
    saves the orchestration a turn. A small first step runs here to its end (``ran``: what
    ``finish_step`` answers), which saves it two more: see ``_run_step``. ``client`` is the
    durableClient binding (``run_targets``')."""
    store = job_store()
    execution = store.get_job_execution(execution_id, include_targets=False)
    if execution.lifecycle == Lifecycle.CREATED:
        store.transition(execution_id, Lifecycle.IN_PROGRESS)
    version = store.get_execution_version(execution_id)
    script_runner.remember_steps(execution_id, version.steps)
    steps = tuple(
        PlannedStep(step.step_id or 0, step.max_parallelism, step.on_failure.value)
        for step in version.steps
    )
    plan = _plan(steps)
    if steps:
        first = _expand(store, execution_id, steps[0].step_id, execution)
        step = steps[0]
        ref = StepRef(execution_id, step.step_id, step_traceparent(execution_id, step.step_id))
        end = StepEnd(ref, None, len(steps) == 1, None, step.on_failure)
        ran = _run_step(store, end, first, plan, step.max_parallelism, client)
        plan = dataclasses.replace(plan, first=first, ran=ran)
    return plan.to_json()


def _plan(steps: tuple[PlannedStep, ...]) -> Plan:
    """How this version spreads the targets of ``steps`` over activities."""
    return Plan(
        steps,
        BATCH_SIZE,
        CHUNK_SIZE,
        LOCAL_CHUNK_SIZE,
        CHUNK_FROM,
        None,
        SPREAD_FROM,
        SPREAD,
        LOCAL_PARTS,
        LOCAL_SPREAD,
        MAX_BATCHES,
    )


def _run_step(
    store: JobStore,
    end: StepEnd,
    expansion: Expansion,
    plan: Plan,
    max_parallelism: int | None,
    client: str,
) -> StepOutcome | None:
    """Run the step just expanded and finish it (``end``: what its ``finish_step`` would be
    given), as the orchestration would have with its ``run_targets`` and ``finish_step``
    activities, when it is small: no parallelism bound, and at most ``QUICK_TARGETS`` SQLite
    files of this host in chunks that run at once (in place), or at most a batch of other
    targets (their ranges hold about ``SPREAD`` target slots, which one execution may hold).
    Answers the ``finish_step`` answer, or None when the orchestration must run the step.

    Nothing is lost when this does not finish: a chunk that found no target slot, or any error,
    leaves the step to the orchestration, whose activities pick up where this left off (they
    skip targets already recorded, as on any redelivery)."""
    count, ref, local = expansion.targets, end.step, expansion.local
    most = QUICK_TARGETS if local else plan.batch_size
    if not client or not 0 < count <= most or max_parallelism:
        return None
    if not plan.in_place(count, max_parallelism, local):
        return None
    # Other targets in about ``spread`` ranges, as a mid-size step's run_targets would hold
    # them: fewer than the target slots one execution may hold.
    chunk = max(1, plan.chunk_for(count, local=True)) if local else -(-count // plan.spread)
    ranges = [
        TargetRange(ref, first, min(count, first + chunk), local=local)
        for first in range(0, count, chunk)
    ]
    try:
        if not all(run_ranges(ranges, client)):
            return None
        return _finish_step(store, end, end.to_json())
    except Exception:  # noqa: BLE001 - the orchestration runs the step its own way
        logger.warning("execution %s: step %s goes to the orchestration",
                       ref.job_execution_id, ref.step_id, exc_info=True)  # fmt: skip
        return None


@bp.activity_trigger(input_name="step", activity=names.EXPAND_STEP)
@bp.generic_input_binding(arg_name="client", type="durableClient")
def expand_step(step: dict, client: str) -> dict[str, Any]:  # type: ignore[type-arg]
    """Expand the step's target group now (servers and pools listed through their refresh
    credential), write one ``Created`` row per target and answer how many there are, and
    whether they are all ``local`` (SQLite files on this host: see ``run_targets``). Input a
    ``StepStart``: with its ``finish``, a small step runs to its end here (``ran``: see
    ``_run_step``). ``client`` is the durableClient binding."""
    start = StepStart.from_json(step)
    store, ref = job_store(), start.step
    expansion = _expand(store, ref.job_execution_id, ref.step_id)
    if start.finish is None:
        return expansion.to_json()
    bound = script_runner.step(store, ref.job_execution_id, ref.step_id).max_parallelism
    ran = _run_step(store, start.finish, expansion, _plan(()), bound, client)
    return dataclasses.replace(expansion, ran=ran).to_json()


def _expand(
    store: JobStore, execution_id: str, step_id: int, execution: JobExecution | None = None
) -> Expansion:
    """``expand_step``'s work; ``execution`` as its caller read it just now, if it did."""
    if execution is None:
        execution = store.get_job_execution(execution_id, include_targets=False)
    row = next(s for s in execution.steps if s.step_id == step_id)
    if row.lifecycle.is_terminal:
        return Expansion(len(store.list_target_executions(execution_id, step_id=step_id)))
    if execution.cancel_requested:
        return Expansion(0)
    existing = store.list_target_executions(execution_id, step_id=step_id)
    if existing:  # a redelivered activity: the expansion is already written
        return Expansion(len(existing), _all_local(t.target_engine for t in existing))
    try:
        # A rerun keeps only its chosen databases (sqlfleet.store.reruns).
        specs = store.keep_rerun_targets(execution_id, resolve_targets(row.target_group_name or ""))
    except SqlFleetError as error:
        store.transition(
            execution_id, Lifecycle.FAILED, step_id=step_id, message=f"expanding targets: {error}"
        )
        return Expansion(0, failed=True)
    count = store.begin_step(execution_id, step_id, specs)  # its rows; it shows it waits
    return Expansion(count, _all_local(spec.engine for spec in specs))


def _all_local(engines: Iterable[Engine | None]) -> bool:
    return all(engine == Engine.SQLITE for engine in engines)


@bp.activity_trigger(input_name="step", activity=names.FINISH_STEP)
def finish_step(step: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    """End a step with the rollup of its targets; say whether the job must stop here, or that
    retry lanes still hold targets (``pending``). When the step is the ``last`` or stops the
    job, the execution ends too (with ``execution_error`` as its message, if any): the answer's
    ``execution`` is what ``finish_execution`` answers."""
    return _finish_step(job_store(), StepEnd.from_json(step), step).to_json()


def _finish_step(store: JobStore, end: StepEnd, step: dict[str, Any]) -> StepOutcome:
    """``finish_step``'s work; ``step`` is its input document (the step's trace ids)."""
    on_failure = None if end.on_failure is None else OnFailure(end.on_failure)
    try:
        # One transaction: whatever did not finish (a failed sub-orchestration, a cancel) ends,
        # the step ends, and so does the execution with its last step (or the one that stops
        # it): one turn less.
        finished = store.finish_step(
            end.step.job_execution_id,
            end.step.step_id,
            error=end.error,
            last=end.last,
            execution_message=end.execution_error,
            on_failure=on_failure,
        )
    except TargetsStillActive:  # retry lanes still hold targets; the last raises step_settled
        return StepOutcome(pending=True)
    row = finished.step
    if finished.step_ended:
        with telemetry.joined_step(step):  # the warning carries the step's trace ids
            report_failed_targets(row, finished.targets, logger)  # what the alert counts
        telemetry.step_ended(store, row, step)
        if sum(finished.targets.values()) >= TRIM_AFTER_TARGETS:
            # The step's chunks left their heap in the arenas of the worker threads that ran
            # them: give it back, or the host stays that much bigger until the next big step.
            memory.trim()
    ended = None
    if finished.execution is not None:
        if finished.execution_ended:
            telemetry.execution_ended(finished.execution)
        ended = _ending(finished.execution)
    return StepOutcome(row.lifecycle.value, finished.stop, execution=ended)


@bp.activity_trigger(input_name="finish", activity=names.FINISH_EXECUTION)
def finish_execution(finish: Any) -> dict[str, Any]:
    """End the execution with the rollup of its steps (steps never reached become Skipped).
    Input an ``ExecutionFinish``: its message (a step could not finish: it says why) becomes
    the execution's."""
    request = ExecutionFinish.from_json(finish)
    return _finish(job_store(), request.job_execution_id, request.message).to_json()


def _finish(store: JobStore, execution_id: str, message: str | None) -> ExecutionEnd:
    """End the execution unless it has ended."""
    execution = store.get_job_execution(execution_id, include_targets=False)
    if not execution.lifecycle.is_terminal:
        try:
            execution = store.finish_job_execution(execution_id, message=message)
        except IllegalTransition:  # ended meanwhile from outside (sqlfleet.durable.reconciliation)
            return _ending(store.get_job_execution(execution_id, include_targets=False))
        telemetry.execution_ended(execution)
    return _ending(execution)


@bp.activity_trigger(input_name="end", activity=names.END_EXECUTION)
def end_execution(end: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    """Input an ``ExecutionAbort``: the orchestration cannot go on, so the execution and
    whatever of it is unfinished end ``lifecycle`` with ``message``."""
    abort = ExecutionAbort.from_json(end)
    execution = job_store().end_job_execution(
        abort.job_execution_id, Lifecycle(abort.lifecycle), abort.message
    )
    telemetry.execution_ended(execution)
    return _ending(execution).to_json()


def _ending(execution: ExecutionRow) -> ExecutionEnd:
    return ExecutionEnd(
        execution.job_execution_id, execution.lifecycle.value, execution.last_message
    )


@bp.activity_trigger(input_name="lane", activity=names.CANCEL_TARGETS)
def cancel_targets(lane: dict) -> int:  # type: ignore[type-arg]
    """Mark the lane's remaining targets (a ``CancelRange``) Canceled (the execution was
    cancelled)."""
    rest = CancelRange.from_json(lane)
    return job_store().cancel_targets(
        rest.step.job_execution_id, rest.step.step_id, rest.ordinals()
    )


@bp.activity_trigger(input_name="execution_id", activity=names.CANCEL_REQUESTED)
def cancel_requested(execution_id: str) -> bool:
    """Whether the execution must stop (``sqlfleet.durable.cancellation.requested``)."""
    return cancellation.requested(job_store(), execution_id)


@bp.activity_trigger(input_name="target", activity=names.SETTLE_TARGET)
@bp.durable_client_input(client_name="client")
async def settle_target(target: dict, client: df.DurableOrchestrationClient) -> bool:  # type: ignore[type-arg]
    """A retry lane ended (a ``RetryEnd``): record its ``error`` (the lane itself failed) on the
    target if it is still active, and when no target of the step is active any more, raise
    ``step_settled`` on the job execution. Answers whether it raised the event."""
    store = job_store()
    ended = RetryEnd.from_json(target)
    execution_id, step_id, ordinal = ended.step.job_execution_id, ended.step.step_id, ended.ordinal
    if ended.error:
        row = store.get_target_execution(execution_id, step_id, ordinal)
        if not row.lifecycle.is_terminal:
            store.transition(
                execution_id,
                Lifecycle.FAILED,
                step_id=step_id,
                ordinal=ordinal,
                message=f"retrying failed: {ended.error}",
            )
    if store.list_target_executions(execution_id, step_id=step_id, active=True):
        return False
    execution = store.get_job_execution(execution_id, include_targets=False)
    if not execution.is_active:
        return False
    try:
        await client.raise_event(
            names.execution_instance_id(execution_id), names.STEP_SETTLED_EVENT, step_id
        )
    except Exception:  # noqa: BLE001 - the execution ended meanwhile: nobody waits any more
        logger.info("execution %s no longer takes events", execution_id, exc_info=True)
        return False
    return True
