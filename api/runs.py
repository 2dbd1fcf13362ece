"""``POST /api/runs``: an ad hoc run, a command run now on a target group or on databases given
by address, as an execution with every feature of one (retries, timeout, output, receive, stop,
remove) and no job definition to maintain (``sqlfleet.store.runs`` says how it is stored)."""

from __future__ import annotations

import uuid

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from api.blueprint import client_operation
from api.documents import read_document
from api.executions import started
from sqlfleet.errors import SqlFleetError, ValidationFailed
from sqlfleet.models import JobIn, TargetGroupIn
from sqlfleet.models.parameters import resolve
from sqlfleet.models.runs import RunIn
from sqlfleet.models.validation import problems_error
from sqlfleet.parametervalues import seal_parameters
from sqlfleet.runtime import job_store, sqlite_folders
from sqlfleet.store.runs import run_group_name
from sqlfleet.store.versions import RUN_KIND

_STEP_FIELD = "steps[0]."


@client_operation(
    "runs",
    "POST",
    name="runs_start",
    summary="Run a command now on a target group or on databases given by address (an ad hoc "
    "run: 202 + status-query URLs, like a start; listed among executions under its name)",
    body=RunIn,
    responses={202: None},
)
async def start_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Answers like ``POST /api/jobs/{name}/start``. Raises ``ValidationFailed`` (a bad value,
    an unknown credential or target group), ``Conflict`` (``name`` is a job's)."""
    run = read_document(req, RunIn)
    folders = sqlite_folders()
    folders.check_output(run.output)
    if run.members is not None:
        folders.check_members(run.members)
    execution_id = str(uuid.uuid4())
    name = run.name or f"run-{execution_id[:8]}"
    # Everything that can be checked without writing is checked first: no half-written run.
    declarations = run.declarations()
    values = seal_parameters(resolve(declarations, run.parameters, name))
    store = job_store()
    group = run.target_group_name
    if run.members is not None:
        group = run_group_name(execution_id)
        try:
            members = TargetGroupIn.model_validate(
                {"members": [member.model_dump() for member in run.members]}
            )
        except ValidationError as error:
            raise problems_error(error.errors(include_url=False, include_input=False)) from None
        store.put_target_group(group, members)
    assert group is not None
    try:
        job, _ = store.put_job(
            name, JobIn(steps=[run.step(group)], parameters=declarations), kind=RUN_KIND
        )
    except ValidationFailed as error:
        _forget_group(run, group)
        field = error.field.removeprefix(_STEP_FIELD)
        if run.members is not None and field == "target_group_name":
            field = "members"
        raise ValidationFailed(field, error.reason) from None
    except SqlFleetError:
        _forget_group(run, group)
        raise
    # The version just written (another run of the same name may write the next one meanwhile).
    execution = store.create_job_execution(
        name,
        job_execution_id=execution_id,
        instance_id=execution_id,
        parameters_json=values,
        job_version=job.job_version,
    )
    return await started(req, client, execution)


def _forget_group(run: RunIn, group: str) -> None:
    if run.members is not None:
        job_store().delete_target_group(group)
