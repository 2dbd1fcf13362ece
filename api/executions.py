"""Executions: start a job, watch it, receive its output, cancel it, purge it.

Starting answers ``202`` with the execution id and the Durable Functions check-status payload;
the job database holds the per-target history, so reads never touch the task hub.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping, Sequence

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel

from api import watching
from api.blueprint import QueryParameter, client_operation, operation
from api.documents import (
    answer,
    query_flag,
    query_int,
    read_document,
    route_value,
    url_path,
    whole_number,
)
from sqlfleet import memory
from sqlfleet.durable import cancellation, names
from sqlfleet.durable.control import purge_instances
from sqlfleet.durable.messages import ExecutionStart
from sqlfleet.durable.reconciliation import reconcile_execution
from sqlfleet.errors import BadRequest, Conflict, JobDatabaseUnavailable, first_line
from sqlfleet.expansion import resolve_targets
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import utc_now
from sqlfleet.models.executions import (
    ExecutionPage,
    JobExecution,
    OutputPage,
    TargetExecution,
    TargetOutput,
    TargetPage,
    TargetSpec,
)
from sqlfleet.models.parameters import StartIn, resolve
from sqlfleet.parametervalues import seal_parameters
from sqlfleet.runtime import job_store
from sqlfleet.store.pages import (
    DEFAULT_OUTPUT_PAGE,
    DEFAULT_TARGET_PAGE,
    MAX_OUTPUT_PAGE,
    MAX_TARGET_PAGE,
)
from sqlfleet.times import parse_utc

logger = logging.getLogger("sqlfleet.api")


class PreviewList(BaseModel):
    """``POST /api/target-groups/{name}/preview``: the targets a step would hit now."""

    items: list[TargetSpec]


@client_operation(
    "jobs/{name}/start",
    "POST",
    name="jobs_start",
    summary="Start an execution of the job's current version (202 + status-query URLs); the "
    "body (optional) gives its parameter values",
    body=StartIn,
    responses={202: None},
)
async def start_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    # An empty body means no values (the defaults); a body must be JSON.
    wanted = read_document(req, StartIn) if req.get_body() else StartIn()
    store = job_store()
    name = route_value(req, "name")
    values = resolve(store.get_job(name).parameters, wanted.parameters, name)
    execution_id = str(uuid.uuid4())
    execution = store.create_job_execution(
        name,
        job_execution_id=execution_id,
        instance_id=execution_id,
        parameters_json=seal_parameters(values),
    )
    return await started(req, client, execution)


async def started(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    execution: JobExecution,
    extra: Mapping[str, object] | None = None,
) -> func.HttpResponse:
    """Start the orchestration of the ``Created`` ``execution``; the 202 answer of a start
    (with ``extra`` fields). When the task hub does not take the orchestration, the execution
    is removed again, so that no ``Created`` row is left that nothing will ever run, and the
    caller gets a 503 (``JobDatabaseUnavailable``'s answer) saying so."""
    execution_id = execution.job_execution_id
    try:
        await client.start_new(
            names.JOB_EXECUTION, execution_id, ExecutionStart(execution_id).to_json()
        )
    except Exception as error:  # noqa: BLE001 - undone, then answered as unavailable
        _discard_unstarted(execution_id)
        raise JobDatabaseUnavailable(
            f"the orchestration of execution {execution_id} could not be started, so the "
            f"execution was not kept ({first_line(error, 300)})"
        ) from None
    status = client.create_check_status_response(req, execution_id)
    payload = json.loads(status.get_body())
    payload.update(
        {
            "job_execution_id": execution_id,
            "job_name": execution.job_name,
            "job_version": execution.job_version,
            "executionUri": url_path("executions", execution_id),
            "parameters": execution.parameters,
            **(extra or {}),
        }
    )
    headers = dict(status.headers)
    headers.pop("Content-Length", None)
    return func.HttpResponse(
        json.dumps(payload), status_code=202, headers=headers, mimetype="application/json"
    )


_LIST_QUERY = (
    QueryParameter("job_name", {"type": "string"}, "only executions of this job"),
    QueryParameter("active", {"type": "boolean"}, "only active (true) or finished (false) ones"),
    QueryParameter("lifecycle", {"type": "string"}, "only executions in this lifecycle"),
    QueryParameter(
        "create_time_min", {"type": "string", "format": "date-time"}, "created at or after"
    ),
    QueryParameter(
        "create_time_max", {"type": "string", "format": "date-time"}, "created at or before"
    ),
    QueryParameter("top", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (100)"),
    QueryParameter("continuation", {"type": "string"}, "the previous page's continuation"),
)


def _answered_page(page: BaseModel) -> func.HttpResponse:
    """The 200 answer of a big page, after which the heap its documents took goes back to the
    system (``sqlfleet.memory``): each page is built on whichever worker thread serves it, and
    glibc would otherwise keep a page's worth in every thread's arena for good."""
    response = answer(200, page)
    page.__dict__.clear()  # the only other reference is the caller's, which returns at once
    memory.trim()
    return response


def _top_query(default: int, highest: int) -> QueryParameter:
    return QueryParameter(
        "top", {"type": "integer", "minimum": 1, "maximum": highest}, f"page size ({default})"
    )


@operation(
    "executions",
    "GET",
    name="executions_list",
    summary="List job executions, newest first, a page at a time (long-poll with since+wait)",
    responses={200: ExecutionPage},
    query=(
        *_LIST_QUERY,
        QueryParameter("counts", {"type": "boolean"}, "also count executions per lifecycle"),
        *watching.WATCH_QUERY,
    ),
)
async def list_executions(req: func.HttpRequest) -> func.HttpResponse:
    active = req.params.get("active")
    job_name = req.params.get("job_name") or None
    created = _time(req, "create_time_min"), _time(req, "create_time_max")
    filters = {
        "job_name": job_name,
        "active": None if active in (None, "") else _flag("active", active),
        "lifecycle": _lifecycle(req.params.get("lifecycle")),
        "create_time_min": created[0],
        "create_time_max": created[1],
        "top": min(query_int(req, "top", minimum=1) or 100, 1000),
        "continuation": req.params.get("continuation") or None,
    }
    counts = query_flag(req, "counts")
    since, wait = watching.wait_parameters(req)

    def read() -> ExecutionPage:
        store = job_store()
        page = store.list_job_executions(**filters)  # type: ignore[arg-type]
        page = page.model_copy(update={"items": summarised(page.items)})
        if not counts:
            return page
        totals = store.count_job_executions(
            job_name=job_name, create_time_min=created[0], create_time_max=created[1]
        )
        return page.model_copy(update={"counts": totals})

    page, version = await watching.when_changed(read, since, wait)
    return watching.versioned(page, version)


@operation(
    "executions/{id}",
    "GET",
    name="executions_get",
    summary="One execution with its steps, their progress and its first `top` targets "
    "(long-poll with since+wait, or until=ended+wait; ?targets=false leaves target rows out, "
    "?lifecycle= filters them; targets_continuation continues at /targets)",
    responses={200: JobExecution},
    query=(
        QueryParameter("lifecycle", {"type": "string"}, "only targets in this lifecycle"),
        QueryParameter("targets", {"type": "boolean", "default": True}, "include target rows"),
        _top_query(DEFAULT_TARGET_PAGE, MAX_TARGET_PAGE),
        *watching.WATCH_QUERY,
        watching.UNTIL_QUERY,
    ),
)
async def get_execution(req: func.HttpRequest) -> func.HttpResponse:
    execution_id = route_value(req, "id")
    lifecycle = _lifecycle(req.params.get("lifecycle"))
    with_targets = query_flag(req, "targets", default=True)
    top = _top(req, DEFAULT_TARGET_PAGE, MAX_TARGET_PAGE)
    since, wait = watching.wait_parameters(req)
    if watching.until_parameter(req):
        # Only the end matters: each change costs one row's read, not the whole summary.
        store = job_store()
        await watching.until_ended(lambda: not store.execution_is_active(execution_id), wait)
        since = None

    def read() -> JobExecution:
        return watching.watched_execution(execution_id)

    summary, version = await watching.when_changed(read, since, wait)
    summary = (await asyncio.to_thread(summarised, [summary]))[0]
    if not with_targets:
        return watching.versioned(summary, version)

    def read_targets() -> JobExecution:
        page = job_store().page_target_executions(execution_id, lifecycle=lifecycle, top=top)
        by_step: dict[int, list[TargetExecution]] = {}
        for target in page.items:
            by_step.setdefault(target.step_id or 0, []).append(target)
        steps = [
            step.model_copy(update={"targets": by_step.get(step.step_id or 0, [])})
            for step in summary.steps
            if lifecycle is None or step.lifecycle == lifecycle or by_step.get(step.step_id or 0)
        ]
        return summary.model_copy(
            update={"steps": steps, "targets_continuation": page.continuation}
        )

    document = await asyncio.to_thread(read_targets)
    response = watching.versioned(document, version)
    del document  # up to 10,000 target models: their heap goes back once answered
    memory.trim()
    return response


@operation(
    "executions/{id}/targets",
    "GET",
    name="executions_targets",
    summary="The target executions of an execution, a page at a time in (step, ordinal) "
    "order (?step_id=, ?lifecycle=, ?top=, ?continuation=)",
    responses={200: TargetPage},
    query=(
        QueryParameter("step_id", {"type": "integer", "minimum": 1}, "only this step's"),
        QueryParameter("lifecycle", {"type": "string"}, "only targets in this lifecycle"),
        _top_query(DEFAULT_TARGET_PAGE, MAX_TARGET_PAGE),
        QueryParameter("continuation", {"type": "string"}, "the previous page's continuation"),
    ),
)
def list_targets(req: func.HttpRequest) -> func.HttpResponse:
    # Built as JSON a few hundred rows at a time: a page of 10,000 never exists as models.
    body = job_store().page_target_executions_json(
        route_value(req, "id"),
        step_id=query_int(req, "step_id", minimum=1),
        lifecycle=_lifecycle(req.params.get("lifecycle")),
        top=_top(req, DEFAULT_TARGET_PAGE, MAX_TARGET_PAGE),
        continuation=req.params.get("continuation") or None,
    )
    response = func.HttpResponse(body, status_code=200, mimetype="application/json")
    memory.trim()
    return response


@operation(
    "executions/{id}/steps/{step_id}/targets/{ordinal}/output",
    "GET",
    name="executions_target_output",
    summary="What one target produced: its first result set and its messages",
    responses={200: TargetOutput},
)
def target_output(req: func.HttpRequest) -> func.HttpResponse:
    output = job_store().get_target_output(
        route_value(req, "id"),
        _whole(route_value(req, "step_id"), "step_id"),
        _whole(route_value(req, "ordinal"), "ordinal"),
    )
    return answer(200, output)


@operation(
    "executions/{id}/output",
    "GET",
    name="executions_output",
    summary="Receive-Job -Keep: what the targets produced (every result set, row counts, "
    "messages, error, attempts), a page at a time, never marked received (?step_id=, "
    "?lifecycle=, ?top=, ?continuation=; POST /receive hands output out once)",
    responses={200: OutputPage},
    query=(
        QueryParameter("step_id", {"type": "integer", "minimum": 1}, "only this step's"),
        QueryParameter("lifecycle", {"type": "string"}, "only targets in this lifecycle"),
        _top_query(DEFAULT_OUTPUT_PAGE, MAX_OUTPUT_PAGE),
        QueryParameter("continuation", {"type": "string"}, "the previous page's continuation"),
        QueryParameter("keep", {"type": "boolean", "default": True}, "only true: a GET keeps"),
    ),
)
def execution_output(req: func.HttpRequest) -> func.HttpResponse:
    if not query_flag(req, "keep", default=True):
        raise BadRequest(
            "keep",
            "a GET never marks output received; POST /api/executions/{id}/receive does "
            "(sqlfleet receive without --keep)",
        )
    page = job_store().page_target_outputs(
        route_value(req, "id"),
        step_id=query_int(req, "step_id", minimum=1),
        lifecycle=_lifecycle(req.params.get("lifecycle")),
        top=_top(req, DEFAULT_OUTPUT_PAGE, MAX_OUTPUT_PAGE),
        continuation=req.params.get("continuation") or None,
    )
    return _answered_page(page)


def summarised(executions: Sequence[JobExecution]) -> list[JobExecution]:
    """``executions`` with Get-Job's columns: has_more_data, command, location."""
    found = job_store().execution_summaries(
        [(e.job_execution_id, e.job_id, e.job_version, e.is_active) for e in executions]
    )
    return [
        e.model_copy(update=dataclasses.asdict(found[e.job_execution_id]))
        if e.job_execution_id in found
        else e
        for e in executions
    ]


@operation(
    "executions/{id}/receive",
    "POST",
    name="executions_receive",
    summary="Receive-Job: the output of ended targets not received yet, marked received (a "
    "GET of /output never marks anything: that is Receive-Job -Keep); has_more_data says "
    "whether output is left (?step_id=, ?top=)",
    responses={200: OutputPage},
    query=(
        QueryParameter("step_id", {"type": "integer", "minimum": 1}, "only this step's"),
        _top_query(DEFAULT_OUTPUT_PAGE, MAX_OUTPUT_PAGE),
    ),
)
def receive_output(req: func.HttpRequest) -> func.HttpResponse:
    page = job_store().receive_target_outputs(
        route_value(req, "id"),
        step_id=query_int(req, "step_id", minimum=1),
        top=_top(req, DEFAULT_OUTPUT_PAGE, MAX_OUTPUT_PAGE),
    )
    return answer(200, page)


@client_operation(
    "executions/{id}/cancel",
    "POST",
    name="executions_cancel",
    summary="Cancel an execution: no new work starts, running scripts are cancelled",
    responses={202: JobExecution},
)
async def cancel_execution(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    # One mechanism, described in sqlfleet.durable.cancellation; answers what the cancel wrote.
    execution = await cancellation.cancel_execution(job_store(), client, route_value(req, "id"))
    return answer(202, execution)


@client_operation(
    "executions/{id}",
    "DELETE",
    name="executions_delete",
    summary="Purge a finished execution from the job database and the task hub (409 if active)",
    responses={204: None},
)
async def delete_execution(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    store = job_store()
    execution = store.get_job_execution(route_value(req, "id"), include_targets=False)
    if execution.is_active:
        # Active only because nobody noticed its orchestration is over or gone? Then it ends.
        execution = await reconcile_execution(store, client, execution, utc_now())
    if execution.is_active:
        raise Conflict(
            "job execution",
            execution.job_execution_id,
            "is still active; cancel it first with "
            f"POST /api/executions/{execution.job_execution_id}/cancel",
            field="id",
        )
    store.purge_execution(execution.job_execution_id)
    await purge_instances(client, execution.job_execution_id)
    return answer(204)


@operation(
    "target-groups/{name}/preview",
    "POST",
    name="target_groups_preview",
    mutates=False,
    summary="Dry run: the targets a step on this group would hit now (nothing runs)",
    responses={200: PreviewList},
)
def preview_targets(req: func.HttpRequest) -> func.HttpResponse:
    return _items(resolve_targets(route_value(req, "name")))


def _discard_unstarted(execution_id: str) -> None:
    store = job_store()
    try:
        store.transition(
            execution_id, Lifecycle.FAILED, message="its orchestration could not be started"
        )
        store.purge_execution(execution_id)
    except Exception:  # noqa: BLE001 - reconciliation ends it after its start grace
        logger.warning("could not remove unstarted execution %s", execution_id, exc_info=True)


def _items(items: Sequence[BaseModel]) -> func.HttpResponse:
    body = "[" + ",".join(item.model_dump_json() for item in items) + "]"
    return func.HttpResponse('{"items":' + body + "}", status_code=200, mimetype="application/json")


def _top(req: func.HttpRequest, default: int, highest: int) -> int:
    top = query_int(req, "top", minimum=1)
    if top is not None and top > highest:
        raise BadRequest("top", f"expected a number from 1 to {highest}")
    return top or default


def _lifecycle(raw: str | None) -> Lifecycle | None:
    if not raw:
        return None
    try:
        return Lifecycle(raw)
    except ValueError:
        allowed = ", ".join(state.value for state in Lifecycle)
        raise BadRequest(
            "lifecycle", f"'{raw}' is not a lifecycle; expected one of {allowed}"
        ) from None


def _time(req: func.HttpRequest, name: str) -> dt.datetime | None:
    raw = req.params.get(name)
    if not raw:
        return None
    try:
        return parse_utc(raw)
    except ValueError:
        raise BadRequest(name, f"'{raw}' is not an ISO 8601 date-time") from None


def _flag(name: str, raw: str) -> bool:
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise BadRequest(name, f"'{raw}' is not a boolean; expected true or false")


def _whole(raw: str, name: str) -> int:
    if not whole_number(raw):
        raise BadRequest(name, f"'{raw}' is not a whole number")
    return int(raw)
