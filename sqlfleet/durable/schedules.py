"""A job's schedule orchestration, kept in step with the job as stored: started, told to reload,
or terminated (the API after a change, the housekeeping timer when one is missing)."""

from __future__ import annotations

import datetime as dt
import logging

import azure.durable_functions as df

from sqlfleet.durable import names
from sqlfleet.durable.messages import ScheduleState
from sqlfleet.models import Job, utc_now
from sqlfleet.runtime import job_store
from sqlfleet.schedules import next_occurrence

logger = logging.getLogger("sqlfleet.schedules")
# Every runtime status of an instance that is still there: a schedule between two of its
# executions is ContinuedAsNew, and starting it again then fails ("already exists").
LIVE_STATUSES = ("Running", "Pending", "ContinuedAsNew", "Suspended")


def find_job(job_id: str) -> Job | None:
    """The job with ``job_id``, or None when it no longer exists."""
    return next((job for job in job_store().list_jobs() if job.job_id == job_id), None)


def wants_schedule(job: Job | None, now: dt.datetime) -> bool:
    """Whether ``job`` needs its schedule orchestration: enabled, with an occurrence to come."""
    return job is not None and job.enabled and next_occurrence(job.schedule, now) is not None


async def sync_job_schedule(
    client: df.DurableOrchestrationClient, job_id: str, *, now: dt.datetime | None = None
) -> str:
    """Make the schedule orchestration of job ``job_id`` match the job as stored now.

    A job that wants one (``wants_schedule``) gets it started, or, when it runs, told through
    ``schedule_changed`` to reload the schedule; a deleted or disabled job gets it terminated.
    Answers what was done: ``started``, ``notified``, ``terminated`` or ``unchanged``. Raises
    what the durable client raises when the task hub cannot be reached.
    """
    instance_id = names.schedule_instance_id(job_id)
    job = find_job(job_id)
    status = await client.get_status(instance_id)
    runtime = getattr(getattr(status, "runtime_status", None), "value", None)
    running = runtime in LIVE_STATUSES
    if not wants_schedule(job, now or utc_now()):
        if not running:
            return "unchanged"
        await client.terminate(instance_id, "the job was disabled, deleted or has ended")
        return "terminated"
    if running:
        await client.raise_event(instance_id, names.SCHEDULE_CHANGED_EVENT, None)
        return "notified"
    await client.start_new(names.JOB_SCHEDULE, instance_id, ScheduleState(job_id).to_json())
    logger.info("started the schedule of job %s", job_id)
    return "started"
