"""Target attempts from start to record: the work of ``run_target`` and ``run_targets``.

An attempt is started in the job database, its script run (``sqlfleet.scriptruns``), its end
decided (``sqlfleet.attemptends``: the step's retry policy on the store's clock) and recorded,
all before the activity answers, so the API shows progress live. Two shapes share those pieces:

- ``run_attempt``: one attempt of one target, one transaction to start it
  (``start_target_attempt``) and one to record it (``finish_target_attempt``). Retries take this
  shape, and so do the first attempts of steps with ``max_parallelism``.
- ``run_chunk``: the first attempts of a range of targets, in turns: one transaction
  (``turn_target_chunk``) records the previous turn's ends and starts the next turn. Each turn
  holds as many targets as fit in about ``TURN_SECONDS`` at the pace seen: the chunk's own, or
  for its first turn the pace of the step's last turn in this process (one target when the step
  never ran here, at most ``FIRST_TURN_MOST``), so a small chunk of a job run before takes one
  turn.

A target that must retry waits in a retry lane of its own (an orchestration:
``orchestrators.fanout``), which the caller starts through ``start_lane``. How a cancel reaches
each of these places is ``sqlfleet.durable.cancellation``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlfleet import telemetry
from sqlfleet.attemptends import detail_of, ending, result_of
from sqlfleet.durable import cancellation
from sqlfleet.durable.messages import AttemptAnswer, StepRef, TargetRange, TargetRun
from sqlfleet.errors import IllegalTransition
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models.executions import TargetExecution
from sqlfleet.models.jobs import JobStep
from sqlfleet.outcomes import ScriptOutcome
from sqlfleet.parametervalues import hide_secret_values
from sqlfleet.scriptprocesses import ScriptRun
from sqlfleet.scriptruns import script_runner
from sqlfleet.store import AttemptEnd, ChunkTurn, JobStore, StartOutcome
from sqlfleet.targets import StartedTarget

TURN_SECONDS = 0.5
# A chunk's first turn holds at most this many targets, however fast the step ran before: the
# chunks of a step all start at once and take turns at the job database's write lock, so each
# starts its scripts after one short transaction instead of waiting out the others' long ones.
FIRST_TURN_MOST = 10

# Starts the retry lane of a target whose attempt answered ``answer`` (``activities.lanes``).
StartLane = Callable[[TargetRun, AttemptAnswer], None]


def run_attempt(store: JobStore, run: TargetRun, document: Mapping[str, Any]) -> AttemptAnswer:
    """One attempt on one target, recorded in the job database (blocking). ``document`` is the
    activity's input (its ``traceparent`` joins the attempt's span to the step's). Raises only
    what the job database raises."""
    execution_id, step_id = run.step.job_execution_id, run.step.step_id
    ordinal, number = run.ordinal, run.attempt
    try:
        start = store.start_target_attempt(execution_id, step_id, ordinal, number)
    except IllegalTransition:  # in no state to start (ended meanwhile): say where it is
        return _answer(store.get_target_execution(execution_id, step_id, ordinal))
    if start.outcome is not StartOutcome.STARTED:  # redelivered, cancelled or skipped
        return _answer(start.target)
    step = script_runner.step(store, execution_id, step_id)
    target = start.target.started()
    began = store.now()
    with cancellation.watch(execution_id) as cancel, script_runner.connection_slot():
        outcome = script_runner.run(
            store, step, execution_id, start.execution_create_time, target, cancel
        )
    ended = store.now()
    try:
        answer = _record(store, start.target, step, number, outcome)
    except IllegalTransition:  # the execution ended the target meanwhile (a cancel)
        answer = _answer(store.get_target_execution(execution_id, step_id, ordinal))
    telemetry.attempt_ended(
        dict(document), target, step, number, outcome, began, ended, answer.lifecycle or ""
    )
    return answer


def deferred(run: TargetRun, until: dt.datetime) -> AttemptAnswer:
    """The answer of an attempt that found no target slot (``activities.slots``): nothing
    started, and the target's lane asks again at ``until`` with the same attempt number."""
    waiting = Lifecycle.CREATED if run.attempt == 1 else Lifecycle.WAITING_FOR_RETRY
    return AttemptAnswer(
        waiting.value,
        run.attempt - 1,  # the lane asks for "attempt + 1"
        until.isoformat(),
        deferred=True,
    )


def run_chunk(store: JobStore, chunk: TargetRange, start_lane: StartLane) -> int:
    """The first attempts of ordinals ``chunk.start .. chunk.stop - 1`` in turns (see the
    module); answers how many targets it handled. Raises what the job database raises; a
    redelivery skips the targets already recorded."""
    execution_id, step_id = chunk.step.job_execution_id, chunk.step.step_id
    step = script_runner.step(store, execution_id, step_id)
    queued, ended = list(range(chunk.start, chunk.stop)), list[AttemptEnd]()
    known = script_runner.pace(step, chunk.local)
    size = min(_turn_size(known), FIRST_TURN_MOST) if known else 1
    while queued or ended:
        starting, queued = queued[:size], queued[size:]
        turn = store.turn_target_chunk(execution_id, step_id, ended, starting)
        recorded = set(turn.recorded)
        waiting = {
            end.ordinal: end.next_attempt_start_time
            for end in ended
            if end.ordinal in recorded and end.next_attempt_start_time is not None
        }
        _start_lanes(store, chunk.step, {**waiting, **turn.waiting}, start_lane)
        if turn.canceled:  # the next turn cancels the rest at once
            size, ended = len(queued), []
            continue
        began = time.monotonic()
        ended = _run_turn(store, step, execution_id, turn, chunk.local)
        if turn.started:
            pace = (time.monotonic() - began) / len(turn.started)
            script_runner.remember_pace(step, chunk.local, pace)
            size = _turn_size(pace)
    return chunk.stop - chunk.start


def _turn_size(pace: float) -> int:
    return max(1, int(TURN_SECONDS / max(1e-4, pace)))


def _run_turn(
    store: JobStore, step: JobStep, execution_id: str, turn: ChunkTurn, local: bool
) -> list[AttemptEnd]:
    create_time = turn.execution_create_time or store.now()
    with cancellation.watch(execution_id) as cancel:
        runs, far = script_runner.run_turn(
            store, step, execution_id, create_time, turn.started, cancel, local=local
        )
    pairs = list(zip(turn.started, runs, strict=True))
    for _, run in pairs:
        hide_secret_values(run.outcome, execution_id, store.get_execution_parameters)
    ends = [_attempt_end(store, target, step, run) for target, run in pairs]
    telemetry.turn_ended(
        {"job_execution_id": execution_id, "step_id": step.step_id},
        step,
        pairs,
        ends,
        script_process=far,
    )
    return ends


def _attempt_end(
    store: JobStore, target: StartedTarget, step: JobStep, run: ScriptRun
) -> AttemptEnd:
    if run.outcome is None:  # the execution was cancelled before this target's turn came
        return AttemptEnd(target.ordinal, Lifecycle.CANCELED, run.started, run.ended)
    engine = target.target.engine
    lifecycle, message, retry_at = ending(run.outcome, step, 1, engine, store.now())
    return AttemptEnd(
        target.ordinal,
        lifecycle,
        run.started,
        run.ended,
        message=message,
        result=result_of(run.outcome),
        messages=run.outcome.messages,
        next_attempt_start_time=retry_at,
        detail=detail_of(run.outcome, engine),
    )


def _start_lanes(
    store: JobStore, step: StepRef, waiting: dict[int, dt.datetime], start_lane: StartLane
) -> None:
    """Start the retry lanes of targets that wait for their second attempt (unless the
    execution must stop: then they are cancelled, since no cancel event could reach them)."""
    if not waiting:
        return
    if cancellation.requested(store, step.job_execution_id):
        store.cancel_targets(step.job_execution_id, step.step_id, sorted(waiting))
        return
    for ordinal, retry_at in sorted(waiting.items()):
        answer = AttemptAnswer(Lifecycle.WAITING_FOR_RETRY.value, 1, retry_at.isoformat())
        start_lane(TargetRun(step, ordinal, 1, retry_lane=True), answer)


def _record(
    store: JobStore, target: TargetExecution, step: JobStep, number: int, outcome: ScriptOutcome
) -> AttemptAnswer:
    execution_id, step_id, ordinal = target.job_execution_id, step.step_id, target.target_ordinal
    assert ordinal is not None
    hide_secret_values(outcome, execution_id, store.get_execution_parameters)
    engine = target.target.engine
    lifecycle, message, retry_at = ending(outcome, step, number, engine, store.now())
    done = store.finish_target_attempt(
        execution_id,
        step_id,
        ordinal,
        number,
        lifecycle,
        message=message,
        result=result_of(outcome),
        messages=outcome.messages,
        next_attempt_start_time=retry_at,
        detail=detail_of(outcome, engine),
    )
    if retry_at is None:
        return _answer(done)
    # A cancel that came before this row said WaitingForRetry woke nobody: read it once more.
    if cancellation.requested(store, execution_id):
        store.cancel_targets(execution_id, step_id, [ordinal])
        return AttemptAnswer(Lifecycle.CANCELED.value, number, canceled=True)
    return AttemptAnswer(done.lifecycle.value, number, retry_at.isoformat())


def _answer(row: TargetExecution) -> AttemptAnswer:
    waiting = row.lifecycle == Lifecycle.WAITING_FOR_RETRY
    retry_at = row.next_attempt_start_time if waiting else None
    return AttemptAnswer(
        row.lifecycle.value,
        row.current_attempts,
        retry_at.isoformat() if retry_at else None,
        canceled=row.lifecycle == Lifecycle.CANCELED,
    )


def without_retry_time(answer: AttemptAnswer) -> AttemptAnswer:
    """``answer`` for a caller whose retry is a retry lane's business, not its own."""
    return dataclasses.replace(answer, retry_at=None)
