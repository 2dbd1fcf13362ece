"""Schedules: the activities of the schedule orchestration (read a job's schedule, start a
scheduled run) and ``sync_job_schedule``, which the jobs API and the housekeeping timer call to
make a job's schedule orchestration match its definition at once.

Starting a run needs a durable client: an execution is its own orchestration, not a
sub-orchestration, so that runs may overlap as in Elastic Jobs.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import azure.durable_functions as df

from activities import bp
from sqlfleet import telemetry
from sqlfleet.durable import names
from sqlfleet.durable.messages import ExecutionStart, LoadedSchedule, ScheduledRun
from sqlfleet.durable.schedules import find_job
from sqlfleet.errors import NotFound, ValidationFailed
from sqlfleet.models import utc_now
from sqlfleet.models.parameters import resolve
from sqlfleet.parametervalues import seal_parameters
from sqlfleet.runtime import job_store
from sqlfleet.times import parse_utc

logger = logging.getLogger("sqlfleet.schedules")

# Scheduled execution ids are derived from (job, occurrence): a redelivered activity starts
# nothing twice.
_SCHEDULED_RUN_NAMESPACE = uuid.UUID("5d0f3c1e-2b7a-4f5e-9a51-3c7d1e0b9a42")


@bp.activity_trigger(input_name="job_id", activity=names.LOAD_SCHEDULE)
def load_schedule(job_id: str) -> dict[str, Any] | None:
    """The job's schedule (a ``LoadedSchedule``), or None when the job no longer exists."""
    job = find_job(job_id)
    if job is None:
        return None
    schedule = job.schedule
    return LoadedSchedule(
        job.name,
        job.enabled,
        schedule.interval_type.value,
        schedule.interval_count,
        schedule.start_time,
        schedule.end_time,
        schedule.time_zone,
        schedule.cron,
    ).to_json()


@bp.activity_trigger(input_name="run", activity=names.START_SCHEDULED_EXECUTION)
@bp.durable_client_input(client_name="client")
async def start_scheduled_execution(
    run: dict,  # type: ignore[type-arg]
    client: df.DurableOrchestrationClient,
) -> str | None:
    """Create the execution of the occurrence ``run`` (a ``ScheduledRun``) and start its
    orchestration."""
    scheduled = ScheduledRun.from_json(run)
    store = job_store()
    job = find_job(scheduled.job_id)
    if job is None or not job.steps:
        return None
    name = f"{job.job_id}/{scheduled.occurrence}"
    execution_id = str(uuid.uuid5(_SCHEDULED_RUN_NAMESPACE, name))
    try:
        # A schedule sends no values: the defaults (an enabled job declares one for each).
        values = seal_parameters(resolve(job.parameters, {}, job.name))
        store.create_job_execution(
            job.name,
            job_execution_id=execution_id,
            instance_id=execution_id,
            parameters_json=values,
        )
    except NotFound:
        return None
    except ValidationFailed as error:
        logger.warning("job %s: the scheduled run cannot start: %s", job.name, error)
        return None
    telemetry.schedule_lag(job.name, parse_utc(scheduled.occurrence), utc_now())
    status = await client.get_status(execution_id)
    if not status or not getattr(status, "runtime_status", None):
        await client.start_new(
            names.JOB_EXECUTION, execution_id, ExecutionStart(execution_id).to_json()
        )
    return execution_id
