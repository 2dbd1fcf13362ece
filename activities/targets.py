"""``run_target`` and ``run_targets``: target attempts (``sqlfleet.targetruns`` does the work).

Both hold one of their execution's target slots (``activities.slots``) while they run; without
one they do nothing and say so, and their orchestration asks again shortly. A target that must
retry gets its retry lane (``orchestrators.fanout``) started here (``activities.lanes``), so that
it waits its own backoff, not its batch's slowest target.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from activities import bp, lanes, slots
from sqlfleet import targetruns
from sqlfleet.durable import names
from sqlfleet.durable.messages import AttemptAnswer, TargetRange, TargetRun
from sqlfleet.runtime import job_store
from sqlfleet.scriptruns import script_runner


@bp.activity_trigger(input_name="attempt", activity=names.RUN_TARGET)
@bp.generic_input_binding(arg_name="client", type="durableClient")
def run_target(attempt: dict, client: str) -> dict[str, Any]:  # type: ignore[type-arg]
    """Input ``TargetRun``; answers an ``AttemptAnswer``. With ``retry_lane`` the retry is not
    the caller's business: its retry lane is started here and the answer has no ``retry_at``.
    Raises only when the job database or the task hub fails (the orchestration retries).

    A plain function: it runs on one of the worker's threads from start to end (the Functions
    worker runs synchronous functions on ``PYTHON_THREADPOOL_THREAD_COUNT`` threads, set it to
    ``maxConcurrentActivityFunctions``). ``client`` is the durableClient binding's JSON text,
    read only to start a retry lane."""
    run = TargetRun.from_json(attempt)
    store = job_store()
    with slots.target_slots.slot(run.step.job_execution_id) as held:
        if held:
            answer = targetruns.run_attempt(store, run, attempt)
        else:
            answer = targetruns.deferred(run, slots.deferred_until(store.now()))
    if answer.retry_at and run.retry_lane:
        lanes.start_retry_lane(client, run, answer)
        answer = targetruns.without_retry_time(answer)
    return answer.to_json()


@bp.activity_trigger(input_name="chunk", activity=names.RUN_TARGETS)
@bp.generic_input_binding(arg_name="client", type="durableClient")
def run_targets(chunk: dict, client: str) -> int:  # type: ignore[type-arg]
    """Input ``TargetRange``: the first attempts of its ordinals, in turns
    (``sqlfleet.targetruns.run_chunk``). Answers how many targets it handled, 0 when no
    target slot came free (its ``step_batch`` asks again shortly); raises as ``run_target``.

    ``local`` chunks (SQLite files on this host) also take turns among themselves: at most
    ``sqlfleet.scriptruns.LOCAL_CHUNKS_AT_ONCE`` run at once in this process."""
    return run_range(TargetRange.from_json(chunk), client)


def run_range(targets: TargetRange, client: str, wait: float = slots.WAIT_SECONDS) -> int:
    """The work of ``run_targets``; ``client`` is its durableClient binding, ``wait`` how long
    to wait for a target slot."""

    def start_lane(run: TargetRun, answer: AttemptAnswer) -> None:
        lanes.start_retry_lane(client, run, answer)

    with slots.target_slots.slot(targets.step.job_execution_id, wait) as held:
        if not held:
            return 0
        with script_runner.local_chunks if targets.local else contextlib.nullcontext():
            return targetruns.run_chunk(job_store(), targets, start_lane)


def run_ranges(ranges: Sequence[TargetRange], client: str) -> list[int]:
    """``run_range`` of each of ``ranges`` at once (the first on this thread, the others on
    threads of their own), as the ``run_targets`` activities of a step would run, except that
    a range that finds no target slot free at once handles nothing (0) instead of waiting for
    one; answers what each answered. Raises the first error once all have ended."""
    if len(ranges) < 2:
        return [run_range(targets, client, 0) for targets in ranges]
    with ThreadPoolExecutor(len(ranges) - 1, thread_name_prefix="sqlfleet-range") as pool:
        others = [pool.submit(run_range, targets, client, 0) for targets in ranges[1:]]
        first = run_range(ranges[0], client, 0)
        return [first, *(other.result() for other in others)]
