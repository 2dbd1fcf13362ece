"""Compact reads for watching big executions, the SQL a target ran, and what a key may do.

``lifecycles`` answers one character per target and ``timeline`` a few integers per target, in
pages of ordinals, so a page can draw a step of 10,000 targets and more without asking for (or
the host building) 10,000 full rows.
"""

from __future__ import annotations

import datetime as dt

import azure.functions as func

from api.blueprint import ListOf, QueryParameter, operation, request_access
from api.documents import answer, answer_list, query_int, route_value, whole_number
from sqlfleet.access import Access
from sqlfleet.errors import BadRequest, NotFound
from sqlfleet.lifecycle import ACTIVE
from sqlfleet.models import JobExecution, Schedule, utc_now
from sqlfleet.models.common import DocumentModel
from sqlfleet.models.monitoring import (
    MAX_CODES_PAGE,
    MAX_TIMELINE_PAGE,
    LifecycleCodes,
    Timeline,
)
from sqlfleet.parametervalues import redacted_parameters
from sqlfleet.runtime import job_store
from sqlfleet.schedules import next_occurrence
from sqlfleet.scripts import script_values, script_variables, substitute_variables


class AccessDocument(DocumentModel):
    """``GET /api/access``: what the key of this request may do."""

    access: Access
    may_act: bool


class JobSummary(DocumentModel):
    """``GET /api/job-summaries``: a job as an overview shows it. ``next_run_time`` is when
    its schedule runs it next (None when disabled or past its end); ``last_execution`` its
    newest execution (without steps)."""

    name: str
    description: str
    enabled: bool
    schedule: Schedule
    job_version: int
    step_count: int
    next_run_time: dt.datetime | None
    last_execution: JobExecution | None
    active_executions: int


class TargetScript(DocumentModel):
    """``GET .../targets/{ordinal}/script``: the step's command as the job version holds it and
    as it ran on this target (script variables and parameters substituted, secret parameters
    as ``'***'``); ``parameters`` the execution's values, secret ones as ``***``."""

    step_id: int
    step_name: str
    target_ordinal: int
    command: str
    script: str
    variables: dict[str, str]
    parameters: dict[str, str]


def _page(req: func.HttpRequest, limit: int) -> tuple[int, int]:
    start = query_int(req, "start") or 0
    count = query_int(req, "count", minimum=1) or limit
    if count > limit:
        raise BadRequest("count", f"expected a whole number from 1 to {limit}")
    return start, count


def _step_id(req: func.HttpRequest) -> int:
    raw = route_value(req, "step_id")
    if not whole_number(raw):
        raise BadRequest("step_id", f"'{raw}' is not a whole number")
    return int(raw)


@operation(
    "executions/{id}/steps/{step_id}/lifecycles",
    "GET",
    name="executions_step_lifecycles",
    summary="One lifecycle character per target of a step (for grids of many targets)",
    responses={200: LifecycleCodes},
    query=(
        QueryParameter("start", {"type": "integer", "minimum": 0}, "first ordinal (0)"),
        QueryParameter(
            "count", {"type": "integer", "minimum": 1, "maximum": MAX_CODES_PAGE}, "how many"
        ),
    ),
)
def step_lifecycles(req: func.HttpRequest) -> func.HttpResponse:
    start, count = _page(req, MAX_CODES_PAGE)
    codes = job_store().target_lifecycles(
        route_value(req, "id"), _step_id(req), start=start, count=count
    )
    return answer(200, codes)


@operation(
    "executions/{id}/steps/{step_id}/timeline",
    "GET",
    name="executions_step_timeline",
    summary="A step's targets with their attempts, retries and waits (for a Gantt chart)",
    responses={200: Timeline},
    query=(
        QueryParameter("start", {"type": "integer", "minimum": 0}, "first ordinal (0)"),
        QueryParameter(
            "count", {"type": "integer", "minimum": 1, "maximum": MAX_TIMELINE_PAGE}, "how many"
        ),
    ),
)
def step_timeline(req: func.HttpRequest) -> func.HttpResponse:
    start, count = _page(req, MAX_TIMELINE_PAGE)
    timeline = job_store().target_timeline(
        route_value(req, "id"), _step_id(req), start=start, count=count
    )
    return answer(200, timeline)


@operation(
    "executions/{id}/steps/{step_id}/targets/{ordinal}/script",
    "GET",
    name="executions_target_script",
    summary="The SQL a target ran: the step's command with its script variables substituted",
    responses={200: TargetScript},
)
def target_script(req: func.HttpRequest) -> func.HttpResponse:
    store = job_store()
    execution_id, step_id = route_value(req, "id"), _step_id(req)
    raw = route_value(req, "ordinal")
    if not whole_number(raw):
        raise BadRequest("ordinal", f"'{raw}' is not a whole number")
    target = store.get_target_execution(execution_id, step_id, int(raw))
    execution = store.get_job_execution(execution_id, include_targets=False)
    step = next(
        (s for s in store.get_execution_version(execution_id).steps if s.step_id == step_id), None
    )
    if step is None:
        raise NotFound("step execution", f"{execution_id} step {step_id}")
    variables = script_variables(
        job_name=execution.job_name,
        job_id=execution.job_id,
        job_version=execution.job_version,
        step_id=step.step_id,
        step_name=step.step_name,
        job_execution_id=execution.job_execution_id,
        job_execution_create_time=execution.create_time,
        target_group_name=step.target_group_name,
        target_server_name=target.target_server_name or "",
        target_database_name=target.target_database_name or "",
    )
    parameters = redacted_parameters(store.get_execution_parameters(execution_id))
    engine = target.target_engine.value if target.target_engine else "sqlserver"
    document = TargetScript(
        step_id=step_id,
        step_name=step.step_name,
        target_ordinal=int(raw),
        command=step.command,
        script=substitute_variables(
            step.command, script_values(variables, engine, parameters, redact=True)
        ),
        variables=variables,
        parameters={parameter.name: parameter.shown() for parameter in parameters},
    )
    return answer(200, document)


@operation(
    "access",
    "GET",
    name="access_get",
    summary="What the key of this request may do: act (full) or only look (read-only)",
    responses={200: AccessDocument},
)
def get_access(req: func.HttpRequest) -> func.HttpResponse:
    access, _ = request_access(req)
    return answer(200, AccessDocument(access=access, may_act=access.may_act))


@operation(
    "job-summaries",
    "GET",
    name="job_summaries_list",
    summary="Every job with its schedule, next run, newest execution and active executions",
    responses={200: ListOf(JobSummary)},
)
def list_job_summaries(req: func.HttpRequest) -> func.HttpResponse:
    store = job_store()
    now = utc_now()
    active = {state.value for state in ACTIVE}
    summaries = []
    for job in store.list_jobs():
        newest = store.list_job_executions(job_name=job.name, top=1).items
        counts = store.count_job_executions(job_name=job.name)
        summaries.append(
            JobSummary(
                name=job.name,
                description=job.description,
                enabled=job.enabled,
                schedule=job.schedule,
                job_version=job.job_version,
                step_count=len(job.steps),
                next_run_time=next_occurrence(job.schedule, now) if job.enabled else None,
                last_execution=newest[0] if newest else None,
                active_executions=sum(n for state, n in counts.items() if state in active),
            )
        )
    return answer_list(summaries)
