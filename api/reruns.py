"""``POST /api/executions/{id}/rerun``: run an ended execution's job version again on only the
targets that ended in chosen lifecycles (the failed ones unless the body says otherwise)."""

from __future__ import annotations

import uuid

import azure.durable_functions as df
import azure.functions as func

from api.blueprint import client_operation
from api.documents import read_document, route_value
from api.executions import started
from sqlfleet.models.monitoring import RerunIn
from sqlfleet.runtime import job_store


@client_operation(
    "executions/{id}/rerun",
    "POST",
    name="executions_rerun",
    summary="Rerun the targets of an ended execution that ended Failed or TimedOut (or the "
    "lifecycles the body names) as a new execution of the same job version (202)",
    body=RerunIn,
    responses={202: None},
)
async def rerun_execution(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Answers like a start: 202, the new execution's id and the check-status payload, plus
    ``rerun_of``. Raises ``NotFound``, ``Conflict`` (still active, or no such target)."""
    # An empty body means the defaults; a body must be JSON (api.documents.read_document).
    wanted = read_document(req, RerunIn) if req.get_body() else RerunIn()
    execution_id = str(uuid.uuid4())
    original = route_value(req, "id")
    rerun = job_store().create_rerun(
        original, wanted.lifecycles, rerun_id=execution_id, instance_id=execution_id
    )
    extra = {
        "rerun_of": rerun.rerun_of_job_execution_id,
        "lifecycles": [state.value for state in wanted.lifecycles],
    }
    return await started(req, client, rerun, extra)
