"""``/api/jobs`` and ``/api/jobs/{name}/versions``."""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from api.blueprint import ListOf, QueryParameter, client_operation, operation
from api.documents import (
    answer,
    answer_list,
    created_or_replaced,
    path_name,
    query_flag,
    read_document,
    route_value,
    same_name,
    url_path,
    whole_number,
)
from sqlfleet.durable import names
from sqlfleet.durable.reconciliation import reconcile_execution
from sqlfleet.durable.schedules import sync_job_schedule
from sqlfleet.errors import ActiveExecutions, BadRequest
from sqlfleet.models import Job, JobIn, JobVersion, JobVersionSummary, utc_now
from sqlfleet.runtime import job_store, sqlite_folders
from sqlfleet.schedules import with_next_run
from sqlfleet.store import JobStore

logger = logging.getLogger("sqlfleet.api")

FORCE = QueryParameter(
    "force",
    {"type": "boolean", "default": False},
    "also delete (and cancel) active executions, as sp_delete_job @force = 1",
)


@operation(
    "jobs",
    "GET",
    name="jobs_list",
    summary="List jobs with the steps of their current version",
    responses={200: ListOf(Job)},
)
def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    now = utc_now()
    return answer_list([with_next_run(job, now) for job in job_store().list_jobs()])


@operation(
    "jobs/{name}",
    "GET",
    name="jobs_get",
    summary="Get a job with the steps of its current version",
    responses={200: Job},
)
def get_job(req: func.HttpRequest) -> func.HttpResponse:
    return answer(200, with_next_run(job_store().get_job(route_value(req, "name")), utc_now()))


@client_operation(
    "jobs/{name}",
    "PUT",
    name="jobs_put",
    summary="Create or replace a job; steps, when given, become a new version if they differ",
    body=JobIn,
    responses={200: Job, 201: Job},
)
async def put_job(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    name = path_name(req, job=True)
    document = read_document(req, JobIn)
    same_name(document.name, name)
    folders = sqlite_folders()
    for index, step in enumerate(document.steps or []):
        folders.check_output(step.output, f"steps[{index}].output")
    job, created = job_store().put_job(name, document)
    await _sync_schedule(client, job.job_id)
    return created_or_replaced(with_next_run(job, utc_now()), created, url_path("jobs", name))


@client_operation(
    "jobs/{name}",
    "DELETE",
    name="jobs_delete",
    summary="Delete a job with its versions and history (409 while executions are active)",
    responses={204: None},
    query=(FORCE,),
)
async def delete_job(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    store = job_store()
    name = route_value(req, "name")
    job_id = store.get_job(name).job_id
    force = query_flag(req, "force")
    try:
        deleted = store.delete_job(name, force=force)
    except ActiveExecutions as error:
        # Executions whose orchestration is over or gone end now; the others still block.
        if client is None or not await _ended_orphans(store, client, error.job_execution_ids):
            raise
        deleted = store.delete_job(name, force=force)
    await _sync_schedule(client, job_id)
    if client is not None:
        await _terminate(client, deleted)
    return answer(204)


async def _terminate(client: Any, execution_ids: list[str]) -> None:
    """Stop the orchestrations of active executions deleted with ``force`` (their scripts stop
    by themselves: their rows are gone, see ``sqlfleet.durable.cancellation``)."""
    for execution_id in execution_ids:
        try:
            await client.terminate(
                names.execution_instance_id(execution_id), "its job was deleted with force"
            )
        except Exception:  # noqa: BLE001 - it ended meanwhile
            logger.debug("execution %s: nothing to terminate", execution_id, exc_info=True)


async def _ended_orphans(store: JobStore, client: Any, execution_ids: list[str]) -> bool:
    """End the executions whose orchestration is over or gone; whether all of them ended."""
    now = utc_now()
    for execution_id in execution_ids:
        execution = store.get_job_execution(execution_id, include_targets=False)
        if (await reconcile_execution(store, client, execution, now)).is_active:
            return False
    return True


async def _sync_schedule(client: Any, job_id: str) -> None:
    """Enabling, disabling, changing or deleting a schedule takes effect at once (without a
    task hub, as when tests call the Function directly, only the definition changes)."""
    if client is None:
        return
    try:
        await sync_job_schedule(client, job_id)
    except Exception:  # noqa: BLE001 - the definition is saved; housekeeping catches up
        logger.warning(
            "job %s: could not update its schedule orchestration now; the housekeeping timer "
            "will within five minutes",
            job_id,
            exc_info=True,
        )


@operation(
    "jobs/{name}/versions",
    "GET",
    name="job_versions_list",
    summary="List the versions of a job",
    responses={200: ListOf(JobVersionSummary)},
)
def list_versions(req: func.HttpRequest) -> func.HttpResponse:
    return answer_list(job_store().list_job_versions(route_value(req, "name")))


@operation(
    "jobs/{name}/versions/{version}",
    "GET",
    name="job_versions_get",
    summary="Get one version of a job with its steps",
    responses={200: JobVersion},
)
def get_version(req: func.HttpRequest) -> func.HttpResponse:
    raw = route_value(req, "version")
    if not whole_number(raw):
        raise BadRequest("version", "expected a job version number (0, 1, 2, ...)")
    return answer(200, job_store().get_job_version(route_value(req, "name"), int(raw)))
