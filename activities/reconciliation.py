"""The timer that ends executions whose orchestration will not end them (every five seconds;
what it does is :mod:`sqlfleet.durable.reconciliation`)."""

from __future__ import annotations

import datetime as dt
import logging

import azure.durable_functions as df
import azure.functions as func

from activities import bp
from sqlfleet.durable.reconciliation import reconcile_active
from sqlfleet.models import utc_now
from sqlfleet.runtime import job_store, settings

# Every five seconds (NCRONTAB with seconds): an execution ends within seconds of its
# orchestration, and one pass costs a read of the active executions and one status each.
RECONCILE_SCHEDULE = "*/5 * * * * *"

logger = logging.getLogger("sqlfleet.reconciliation")


@bp.timer_trigger(schedule=RECONCILE_SCHEDULE, arg_name="timer", use_monitor=False)
@bp.durable_client_input(client_name="client")
async def reconcile_executions(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    """End the active executions whose orchestration was terminated, purged or failed."""
    overdue_retry = dt.timedelta(seconds=settings().overdue_retry_seconds)
    ended = await reconcile_active(job_store(), client, utc_now(), overdue_retry=overdue_retry)
    for execution in ended:
        logger.warning(
            "execution %s of job %s ended %s: %s",
            execution.job_execution_id,
            execution.job_name,
            execution.lifecycle.value,
            execution.last_message,
        )
