"""The eternal schedule orchestration of a recurring job (one per job, id from the job id).

Each cycle loads the job's schedule, starts the occurrence that fell due (at most one, so a host
that was down does not start a burst), sleeps on a durable timer until the next occurrence or
until the API says the schedule changed, and continues as new to keep its history short.

A schedule whose start time is at or before now when it is enabled (or changed) runs now: its
latest occurrence not run yet is due at once, then the next ones follow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import azure.durable_functions as df

from orchestrators import bp
from orchestrators.fanout import BOOKKEEPING_RETRY, read_input
from sqlfleet.durable import names
from sqlfleet.schedules import due_occurrence, next_occurrence
from sqlfleet.times import parse_utc


@bp.orchestration_trigger(context_name="context")
def job_schedule(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Input ``{job_id, last_occurrence?}``; ends when the job is gone, disabled or past its end."""
    state = read_input(context)
    job_id = state["job_id"]
    now = context.current_utc_datetime
    # Nothing ran yet (None): the latest occurrence at or before now is due, once.
    last = parse_utc(state["last_occurrence"]) if state.get("last_occurrence") else None
    loaded = yield context.call_activity_with_retry(names.LOAD_SCHEDULE, BOOKKEEPING_RETRY, job_id)
    if not loaded or not loaded.get("enabled"):
        return "stopped"
    schedule = SimpleNamespace(
        interval_type=loaded["interval_type"],
        interval_count=int(loaded["interval_count"]),
        start_time=parse_utc(loaded["start_time"]),
        end_time=parse_utc(loaded["end_time"]),
        time_zone=loaded.get("time_zone"),
        cron=loaded.get("cron"),
        enabled=True,
    )
    due = due_occurrence(schedule, last, now)
    if due is not None:
        yield context.call_activity_with_retry(
            names.START_SCHEDULED_EXECUTION,
            BOOKKEEPING_RETRY,
            {"job_id": job_id, "occurrence": _format(due)},
        )
        last = due
    upcoming = next_occurrence(schedule, now)
    if upcoming is None:
        return "ended"
    context.set_custom_status({"next_occurrence": _format(upcoming)})
    timer = context.create_timer(upcoming)
    changed = context.wait_for_external_event(names.SCHEDULE_CHANGED_EVENT)
    winner = yield context.task_any([timer, changed])
    if winner is not timer:
        # A changed schedule owes its latest occurrence after the last run (one run, now).
        timer.cancel()
    following: dict[str, str] = {"job_id": job_id}
    if last is not None:
        following["last_occurrence"] = _format(last)
    context.continue_as_new(following)
    return None


def _format(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat()
