"""The execution summary a notification carries (the webhook's JSON body, the e-mail's text)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlfleet.store import JobStore


def _time(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def execution_summary(
    store: JobStore, job_execution_id: str, *, delivery_id: str, rule_name: str
) -> dict[str, Any]:
    """The ended execution: job, version, lifecycle, times, message, and per step its
    lifecycle and how many targets ended in each lifecycle. Raises ``NotFound``."""
    execution = store.get_job_execution(job_execution_id, include_targets=False)
    progress = store.target_progress(job_execution_id)
    steps = []
    for step in execution.steps:
        counts = progress.get(step.step_id or 0)
        steps.append(
            {
                "step_id": step.step_id,
                "step_name": step.step_name,
                "lifecycle": step.lifecycle.value,
                "targets": dict(counts.counts) if counts else {},
            }
        )
    return {
        "event": "execution.ended",
        "delivery_id": delivery_id,
        "rule_name": rule_name,
        "job_execution_id": execution.job_execution_id,
        "job_name": execution.job_name,
        "job_version": execution.job_version,
        "lifecycle": execution.lifecycle.value,
        "create_time": _time(execution.create_time),
        "start_time": _time(execution.start_time),
        "end_time": _time(execution.end_time),
        "last_message": execution.last_message,
        "rerun_of": execution.rerun_of_job_execution_id,
        "steps": steps,
        "execution_path": f"/api/executions/{execution.job_execution_id}",
    }
