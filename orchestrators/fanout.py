"""Orchestrations that run one step on its targets.

- ``step_batch`` (a child of the job execution): the first attempts of a contiguous range of
  target ordinals, all at once (one ``task_all``): one ``run_target`` activity per target, or
  for big steps one ``run_targets`` per chunk of consecutive ordinals, which runs them one
  after the other in turns of a transaction each (an activity costs the engine more than an
  attempt costs SQL Fleet; a slow target then delays the rest of its chunk, never more). A
  target that fails and may retry does not wait for its slower neighbours: ``run_target``
  starts a *retry lane* for it at once.
- ``target_retry`` (a retry lane, ``names.retry_instance_id``: an orchestration of its own, not
  a child): waits exactly the target's backoff on a durable timer, retries in line and finally
  raises ``step_settled`` on the job execution (through the ``settle_target`` activity) when
  it was the step's last active target. The execution's own small steps start them too.
- ``step_lane`` (a child of the job execution): ordinals ``next, next+stride, ...`` one after
  the other with retries in line; ``max_parallelism`` lanes bound a step's concurrency. Lanes
  continue as new every ``LANE_CHUNK`` targets so that no history grows without bound.

Every action sequence here is either one task or one ``task_all`` of new tasks (or a timer raced
against the cancel event, where the timer is cancelled when it loses): the Durable Functions
extension walks actions in order and waits at the first incomplete one, so a sliding window of
``task_any`` would serialise new work behind old (durable-protocol.md §2.4).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Generator
from typing import Any, NamedTuple

import azure.durable_functions as df

from orchestrators import bp
from sqlfleet.durable import names
from sqlfleet.durable.messages import (
    AttemptAnswer,
    BatchInput,
    CancelRange,
    LaneInput,
    RetryEnd,
    RetryInput,
    StepRef,
    TargetRange,
    TargetRun,
)
from sqlfleet.errors import first_line
from sqlfleet.times import parse_utc

LANE_CHUNK = 50
# How long a chunk of targets that found no target slot waits before it asks again.
DEFER_SECONDS = 2
# Bookkeeping activities touch only the job database: retry them through outages of about a
# minute (a restart, a failover). The SDK's retries have a fixed interval, and each one adds
# events to the caller's history, so the interval is a few seconds rather than one.
BOOKKEEPING_RETRY = df.RetryOptions(
    first_retry_interval_in_milliseconds=3000, max_number_of_attempts=21
)


def read_input(context: df.DurableOrchestrationContext) -> dict[str, Any]:
    """The orchestration's input object: a raw HTTP start delivers an object, the Python
    client sometimes a JSON string (azure-functions-durable-python #256)."""
    value = context.get_input()
    document: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return document


@bp.orchestration_trigger(context_name="context")
def step_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Input a ``BatchInput``: first attempts of its ordinals, one ``run_target`` each, or
    with ``chunk`` > 1 one ``run_targets`` per chunk; retries continue in retry lanes that
    those activities start."""
    batch = BatchInput.from_json(read_input(context))
    if batch.chunk > 1:
        ranges = batch.chunks()
        handled = yield context.task_all(
            [
                context.call_activity_with_retry(
                    names.RUN_TARGETS,
                    BOOKKEEPING_RETRY,
                    TargetRange(batch.step, first, last, batch.local).to_json(),
                )
                for first, last in ranges
            ]
        )
        # A chunk that found no target slot for its execution handled nothing: ask again
        # shortly, in a new history so that a long wait does not grow this one.
        deferred = tuple(pair for pair, count in zip(ranges, handled, strict=True) if not count)
        if deferred:
            later = context.current_utc_datetime + dt.timedelta(seconds=DEFER_SECONDS)
            yield context.create_timer(later)
            context.continue_as_new(dataclasses.replace(batch, ranges=deferred).to_json())
            return None
        return batch.stop - batch.start
    tasks = [
        context.call_activity_with_retry(
            names.RUN_TARGET,
            BOOKKEEPING_RETRY,
            TargetRun(batch.step, ordinal, 1, retry_lane=True).to_json(),
        )
        for ordinal in range(batch.start, batch.stop)
    ]
    yield context.task_all(tasks)
    return batch.stop - batch.start


@bp.orchestration_trigger(context_name="context")
def target_retry(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """A retry lane: input a ``RetryInput``; the target's next attempts, each after its delay,
    then ``settle_target``."""
    retry = RetryInput.from_json(read_input(context))
    outcome = yield from _retry_lane(context, _CancelWaiter(context), retry)
    return outcome


@bp.orchestration_trigger(context_name="context")
def step_lane(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Input a ``LaneInput``: ordinals ``next, next + stride, ...`` one after the other,
    retries in line. (A document with ``retry_lane`` is a retry lane an older version started
    here: it runs as ``target_retry``.)"""
    lane = LaneInput.from_json(read_input(context))
    waiter = _CancelWaiter(context)
    if lane.retry_lane:
        outcome = yield from _retry_lane(context, waiter, lane.as_retry())
        return outcome
    ref, ordinal, stride, stop = lane.step, lane.next, lane.stride, lane.stop
    attempt, not_before = lane.attempt, lane.not_before
    handled = 0
    while ordinal < stop and handled < LANE_CHUNK:
        finished = yield from _run_target(context, waiter, ref, ordinal, attempt, not_before)
        if isinstance(finished, _Deferred):  # no target slot yet: wait in a new history
            rest = LaneInput(ref, ordinal, stride, stop, finished.attempt, finished.not_before)
            context.continue_as_new(rest.to_json())
            return None
        if not finished:
            yield from _cancel_rest(context, CancelRange(ref, ordinal, stride, stop))
            return "canceled"
        ordinal, attempt, not_before, handled = ordinal + stride, 1, None, handled + 1
    if ordinal < stop:
        context.continue_as_new(LaneInput(ref, ordinal, stride, stop).to_json())
        return None
    return "done"


def _run_target(
    context: df.DurableOrchestrationContext,
    waiter: _CancelWaiter,
    ref: StepRef,
    ordinal: int,
    attempt: int,
    not_before: str | None,
) -> Generator[Any, Any, bool | _Deferred]:
    """Attempts of one target until it ends, each retry after its delay; False if cancelled,
    ``_Deferred`` when the attempt found no target slot (``activities.slots``)."""
    while True:
        if not_before:
            canceled = yield from waiter.wait_until(parse_utc(not_before))
            if canceled:
                return False
        run = TargetRun(ref, ordinal, attempt)
        result = AttemptAnswer.from_json(
            (yield context.call_activity_with_retry(
                names.RUN_TARGET, BOOKKEEPING_RETRY, run.to_json()
            ))
        )  # fmt: skip
        if result.canceled:
            return False
        if not result.retry_at:
            return True
        attempt, not_before = result.attempt + 1, result.retry_at
        if result.deferred:
            return _Deferred(attempt, not_before)


class _Deferred(NamedTuple):
    """The attempt to make, and when, of a target whose attempt found no target slot."""

    attempt: int
    not_before: str


def _retry_lane(
    context: df.DurableOrchestrationContext, waiter: _CancelWaiter, retry: RetryInput
) -> Generator[Any, Any, str]:
    ref, ordinal = retry.step, retry.ordinal
    error = None
    outcome = "done"
    try:
        # A cancel raised before this lane existed never reached it: ask the job database.
        canceled = yield context.call_activity_with_retry(
            names.CANCEL_REQUESTED, BOOKKEEPING_RETRY, ref.job_execution_id
        )
        finished: bool | _Deferred = False
        if not canceled:
            finished = yield from _run_target(
                context, waiter, ref, ordinal, retry.attempt, retry.not_before
            )
        if isinstance(finished, _Deferred):  # no target slot yet: wait in a new history
            later = RetryInput(ref, ordinal, finished.attempt, finished.not_before)
            context.continue_as_new(later.to_json())
            return "deferred"
        if not finished:
            yield from _cancel_rest(context, CancelRange(ref, ordinal, 1, ordinal + 1))
            outcome = "canceled"
    except Exception as exc:  # noqa: BLE001 - no parent sees this lane fail: record it
        error, outcome = first_line(str(exc)), "failed"
    yield context.call_activity_with_retry(
        names.SETTLE_TARGET, BOOKKEEPING_RETRY, RetryEnd(ref, ordinal, error).to_json()
    )
    return outcome


class _CancelWaiter:
    """Races durable timers against the execution's ``cancel`` event.

    One event task per orchestration: a second waiter for the same name would leave the event
    with the first, abandoned one.
    """

    def __init__(self, context: df.DurableOrchestrationContext) -> None:
        self._context = context
        self._event: Any = None

    def wait_until(self, fire_at: dt.datetime) -> Generator[Any, Any, bool]:
        if fire_at <= self._context.current_utc_datetime:
            return False
        if self._event is None:
            self._event = self._context.wait_for_external_event(names.CANCEL_EVENT)
        timer = self._context.create_timer(fire_at)
        winner = yield self._context.task_any([timer, self._event])
        if winner is timer:
            return False
        timer.cancel()
        return True


def _cancel_rest(
    context: df.DurableOrchestrationContext, rest: CancelRange
) -> Generator[Any, Any, None]:
    if rest.next < rest.stop:
        yield context.call_activity_with_retry(
            names.CANCEL_TARGETS, BOOKKEEPING_RETRY, rest.to_json()
        )
