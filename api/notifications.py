"""``/api/jobs/{name}/notifications`` (a job's rules) and ``/api/executions/{id}/notifications``
(the deliveries of an execution, with every try's outcome)."""

from __future__ import annotations

import azure.functions as func

from api.blueprint import ListOf, operation
from api.documents import answer, answer_list, read_document, route_value
from sqlfleet.models.notifications import Delivery, NotificationRules, NotificationRulesIn
from sqlfleet.runtime import job_store


@operation(
    "jobs/{name}/notifications",
    "GET",
    name="job_notifications_get",
    summary="The job's notification rules: on which lifecycles which webhook or e-mail",
    responses={200: NotificationRules},
)
def get_notifications(req: func.HttpRequest) -> func.HttpResponse:
    """Raises ``NotFound`` (the job)."""
    name = route_value(req, "name")
    rules = job_store().get_notification_rules(name)
    return answer(200, NotificationRules(job_name=name, notifications=rules))


@operation(
    "jobs/{name}/notifications",
    "PUT",
    name="job_notifications_put",
    summary="Replace the job's notification rules (an empty list removes them)",
    body=NotificationRulesIn,
    responses={200: NotificationRules},
)
def put_notifications(req: func.HttpRequest) -> func.HttpResponse:
    """Raises ``NotFound`` (the job), ``ValidationFailed`` (a rule, or an unknown credential,
    naming ``notifications[i].<field>``)."""
    name = route_value(req, "name")
    document = read_document(req, NotificationRulesIn)
    rules = job_store().put_notification_rules(name, document.notifications)
    return answer(200, NotificationRules(job_name=name, notifications=rules))


@operation(
    "executions/{id}/notifications",
    "GET",
    name="executions_notifications",
    summary="The notifications of an execution: where each went, how many tries, how it ended",
    responses={200: ListOf(Delivery)},
)
def list_deliveries(req: func.HttpRequest) -> func.HttpResponse:
    """Raises ``NotFound`` (the execution)."""
    store = job_store()
    execution_id = route_value(req, "id")
    store.get_job_execution(execution_id, include_targets=False)  # NotFound when it is not
    return answer_list(store.list_deliveries(execution_id))
