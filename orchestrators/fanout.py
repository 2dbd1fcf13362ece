"""Sub-orchestrations that run one step on its targets.

- ``step_batch``: a contiguous range of target ordinals, all at once (one ``task_all``); targets
  that fail and may retry continue in their own ``step_lane`` so that each waits exactly its own
  backoff delay on a durable timer.
- ``step_lane``: ordinals ``next, next+stride, ...`` one after the other with retries in line;
  ``max_parallelism`` lanes bound a step's concurrency. Lanes continue as new every
  ``LANE_CHUNK`` targets so that no history grows without bound.

Every action sequence here is either one task or one ``task_all`` of new tasks: the Durable
Functions extension walks actions in order and waits at the first incomplete one, so a sliding
window of ``task_any`` would serialise new work behind old (durable-protocol.md §2.4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators import bp, names

LANE_CHUNK = 50
# Bookkeeping activities touch only the job database: retry them through short outages.
BOOKKEEPING_RETRY = df.RetryOptions(
    first_retry_interval_in_milliseconds=2000, max_number_of_attempts=6
)


@bp.orchestration_trigger(context_name="context")
def step_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Input ``{job_execution_id, step_id, start, stop}``; runs ordinals ``start..stop-1``."""
    job = context.get_input()
    ref = {"job_execution_id": job["job_execution_id"], "step_id": job["step_id"]}
    ordinals = range(int(job["start"]), int(job["stop"]))
    results = yield context.task_all(
        [
            context.call_activity_with_retry(
                names.RUN_TARGET, BOOKKEEPING_RETRY, {**ref, "ordinal": ordinal, "attempt": 1}
            )
            for ordinal in ordinals
        ]
    )
    retries = [
        context.call_sub_orchestrator(
            names.STEP_LANE,
            {
                **ref,
                "next": ordinal,
                "stride": 1,
                "stop": ordinal + 1,
                "attempt": int(result["attempt"]) + 1,
                "not_before": result["retry_at"],
            },
            names.retry_instance_id(ref["job_execution_id"], ref["step_id"], ordinal),
        )
        for ordinal, result in zip(ordinals, results, strict=True)
        if result.get("retry_at")
    ]
    if retries:
        yield context.task_all(retries)
    return len(ordinals)


@bp.orchestration_trigger(context_name="context")
def step_lane(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Input ``{job_execution_id, step_id, next, stride, stop, attempt, not_before?}``."""
    job = context.get_input()
    ref = {"job_execution_id": job["job_execution_id"], "step_id": job["step_id"]}
    ordinal, stride, stop = int(job["next"]), int(job["stride"]), int(job["stop"])
    attempt, not_before = int(job.get("attempt", 1)), job.get("not_before")
    waiter = _CancelWaiter(context)
    handled = 0
    while ordinal < stop and handled < LANE_CHUNK:
        if not_before:
            canceled = yield from waiter.wait_until(_parse_time(not_before))
            if canceled:
                yield from _cancel_rest(context, ref, ordinal, stride, stop)
                return "canceled"
        result = yield context.call_activity_with_retry(
            names.RUN_TARGET, BOOKKEEPING_RETRY, {**ref, "ordinal": ordinal, "attempt": attempt}
        )
        if result.get("canceled"):
            yield from _cancel_rest(context, ref, ordinal + stride, stride, stop)
            return "canceled"
        if result.get("retry_at"):
            attempt, not_before = int(result["attempt"]) + 1, result["retry_at"]
            continue
        ordinal, attempt, not_before, handled = ordinal + stride, 1, None, handled + 1
    if ordinal < stop:
        context.continue_as_new(
            {**ref, "next": ordinal, "stride": stride, "stop": stop, "attempt": 1}
        )
        return None
    return "done"


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
    context: df.DurableOrchestrationContext, ref: dict[str, Any], start: int, stride: int, stop: int
) -> Generator[Any, Any, None]:
    if start < stop:
        yield context.call_activity_with_retry(
            names.CANCEL_TARGETS,
            BOOKKEEPING_RETRY,
            {**ref, "next": start, "stride": stride, "stop": stop},
        )


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
