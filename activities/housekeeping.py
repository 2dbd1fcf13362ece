"""The housekeeping timer: every five minutes, bring back schedule orchestrations that went
missing (a purged task hub, a crash between saving a job and starting its schedule), stop those
of jobs that no longer want one (an update the task hub missed), and purge
history older than the retention (``SQLFLEET_HISTORY_RETENTION_DAYS``, default 45 days) from the
job database and the task hub, as Elastic Jobs' own cleanup does.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import azure.durable_functions as df
import azure.functions as func

from activities import bp
from sqlfleet.durable import names
from sqlfleet.durable.control import purge_instances
from sqlfleet.durable.schedules import LIVE_STATUSES, sync_job_schedule, wants_schedule
from sqlfleet.models import utc_now
from sqlfleet.runtime import job_store, settings
from sqlfleet.store import JobStore
from sqlfleet.times import parse_utc

HOUSEKEEPING_SCHEDULE = "0 */5 * * * *"
_FINISHED = [
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

logger = logging.getLogger("sqlfleet.housekeeping")


@dataclass
class HousekeepingReport:
    restarted_schedules: list[str] = field(default_factory=list)
    purged_executions: list[str] = field(default_factory=list)
    purged_instances: int = 0


@bp.timer_trigger(schedule=HOUSEKEEPING_SCHEDULE, arg_name="timer", use_monitor=True)
@bp.durable_client_input(client_name="client")
async def housekeeping(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Restart missing schedule orchestrations; purge history past the retention."""
    report = await keep_house(
        job_store(), client, _host_now(timer), settings().history_retention_days
    )
    if report.restarted_schedules or report.purged_executions or report.purged_instances:
        logger.info(
            "housekeeping: restarted %d schedule(s), purged %d execution(s) and %d "
            "task hub instance(s)",
            len(report.restarted_schedules),
            len(report.purged_executions),
            report.purged_instances,
        )


async def keep_house(
    store: JobStore,
    client: df.DurableOrchestrationClient,
    now: dt.datetime,
    retention_days: int,
) -> HousekeepingReport:
    """One housekeeping pass at ``now``. Raises what the store or the durable client raise."""
    report = HousekeepingReport()
    for job in store.list_jobs():
        status = await client.get_status(names.schedule_instance_id(job.job_id))
        running = getattr(getattr(status, "runtime_status", None), "value", None) in LIVE_STATUSES
        if running != wants_schedule(job, now):
            action = await sync_job_schedule(client, job.job_id, now=now)
            if action == "started":
                report.restarted_schedules.append(job.name)
    oldest = now - dt.timedelta(days=retention_days)
    report.purged_executions = store.purge_history(oldest)
    for execution_id in report.purged_executions:
        report.purged_instances += await purge_instances(client, execution_id)
    # Whatever else finished before the retention (ended schedules, instances of executions
    # whose rows went another way) goes too.
    purged = await client.purge_instance_history_by(
        created_time_from=_EPOCH, created_time_to=oldest, runtime_status=_FINISHED
    )
    report.purged_instances += int(getattr(purged, "instances_deleted", 0) or 0)
    return report


def _host_now(timer: func.TimerRequest) -> dt.datetime:
    """Now, as the host's clock says it (the timer payload's ``LastUpdated``) when that is ahead
    of this machine's clock: a test host may run ahead of the wall clock."""
    now = utc_now()
    stamp = (getattr(timer, "schedule_status", None) or {}).get("LastUpdated")
    if stamp:
        try:
            host = parse_utc(stamp)
        except ValueError:
            return now
        if host > now:
            return host
    return now
