"""``/api/jobs/{name}/steps``: every change writes a new job version (Elastic Jobs' rules).

``{step}`` is a step id (all digits) or a step name.
"""

from __future__ import annotations

import azure.functions as func

from api.blueprint import ListOf, QueryParameter, operation
from api.documents import (
    answer,
    answer_list,
    created_or_replaced,
    query_int,
    read_document,
    route_value,
    step_ref,
    url_path,
)
from sqlfleet.models import JobStep, StepAdd, StepIn, StepPatch
from sqlfleet.runtime import job_store, sqlite_folders

VERSION = QueryParameter(
    "version", {"type": "integer", "minimum": 0}, "a job version (default: the current one)"
)


@operation(
    "jobs/{name}/steps",
    "GET",
    name="steps_list",
    summary="List the steps of a job version",
    responses={200: ListOf(JobStep)},
    query=(VERSION,),
)
def list_steps(req: func.HttpRequest) -> func.HttpResponse:
    steps = job_store().list_steps(route_value(req, "name"), query_int(req, "version"))
    return answer_list(steps)


@operation(
    "jobs/{name}/steps",
    "POST",
    name="steps_add",
    summary="Append a step, or insert it at step_id shifting later steps (new job version)",
    body=StepAdd,
    responses={201: JobStep},
)
def add_step(req: func.HttpRequest) -> func.HttpResponse:
    name = route_value(req, "name")
    document = read_document(req, StepAdd)
    sqlite_folders().check_output(document.output)
    step = job_store().add_step(name, document.as_step())
    return answer(201, step, location=url_path("jobs", name, "steps", step.step_id))


@operation(
    "jobs/{name}/steps/{step}",
    "GET",
    name="steps_get",
    summary="Get a step by id or name",
    responses={200: JobStep},
    query=(VERSION,),
)
def get_step(req: func.HttpRequest) -> func.HttpResponse:
    step = job_store().get_step(route_value(req, "name"), step_ref(req), query_int(req, "version"))
    return answer(200, step)


@operation(
    "jobs/{name}/steps/{step}",
    "PUT",
    name="steps_put",
    summary="Create or replace a step; new_id moves it (new job version when anything changed)",
    body=StepIn,
    responses={200: JobStep, 201: JobStep},
)
def put_step(req: func.HttpRequest) -> func.HttpResponse:
    name = route_value(req, "name")
    document = read_document(req, StepIn)
    sqlite_folders().check_output(document.output)
    step, created = job_store().put_step(name, step_ref(req, new=True), document)
    return created_or_replaced(step, created, url_path("jobs", name, "steps", step.step_id))


@operation(
    "jobs/{name}/steps/{step}",
    "PATCH",
    name="steps_update",
    summary="Change some fields of a step (sp_update_jobstep); new_id moves, new_name renames",
    body=StepPatch,
    responses={200: JobStep},
)
def update_step(req: func.HttpRequest) -> func.HttpResponse:
    document = read_document(req, StepPatch)
    sqlite_folders().check_output(document.output)
    step = job_store().update_step(route_value(req, "name"), step_ref(req), document)
    return answer(200, step)


@operation(
    "jobs/{name}/steps/{step}",
    "DELETE",
    name="steps_delete",
    summary="Delete a step; later steps move up (new job version)",
    responses={204: None},
)
def delete_step(req: func.HttpRequest) -> func.HttpResponse:
    job_store().delete_step(route_value(req, "name"), step_ref(req))
    return answer(204)
