"""The eternal schedule orchestration of a recurring job (one per job, id from the job id).

Each cycle loads the job's schedule, starts the occurrence that fell due (at most one, so a host
that was down does not start a burst), sleeps on a durable timer until the next occurrence or
until the API says the schedule changed, and continues as new to keep its history short.

A schedule whose start time is at or before now when it is enabled (or changed) runs now: its
latest occurrence not run yet is due at once, then the next ones follow.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators import bp
from orchestrators.fanout import BOOKKEEPING_RETRY, read_input
from sqlfleet.durable import names
from sqlfleet.durable.messages import LoadedSchedule, ScheduledRun, ScheduleState
from sqlfleet.schedules import due_occurrence, next_occurrence
from sqlfleet.times import format_utc


@bp.orchestration_trigger(context_name="context")
def job_schedule(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Input a ``ScheduleState``; ends when the job is gone, disabled or past its end."""
    state = ScheduleState.from_json(read_input(context))
    job_id = state.job_id
    now = context.current_utc_datetime
    # Nothing ran yet (None): the latest occurrence at or before now is due, once.
    last = state.last_occurrence
    loaded = yield context.call_activity_with_retry(names.LOAD_SCHEDULE, BOOKKEEPING_RETRY, job_id)
    schedule = LoadedSchedule.from_json(loaded) if loaded else None
    if schedule is None or not schedule.enabled:
        return "stopped"
    due = due_occurrence(schedule, last, now)
    if due is not None:
        yield context.call_activity_with_retry(
            names.START_SCHEDULED_EXECUTION,
            BOOKKEEPING_RETRY,
            ScheduledRun.at(job_id, due).to_json(),
        )
        last = due
    upcoming = next_occurrence(schedule, now)
    if upcoming is None:
        return "ended"
    context.set_custom_status({"next_occurrence": format_utc(upcoming)})
    timer = context.create_timer(upcoming)
    changed = context.wait_for_external_event(names.SCHEDULE_CHANGED_EVENT)
    winner = yield context.task_any([timer, changed])
    if winner is not timer:
        # A changed schedule owes its latest occurrence after the last run (one run, now).
        timer.cancel()
    context.continue_as_new(ScheduleState(job_id, last).to_json())
    return None
