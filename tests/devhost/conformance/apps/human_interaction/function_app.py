"""Human interaction: wait for an approval event, racing a durable timer.

Modelled on Microsoft's phone-verification sample (E4): an activity sends a challenge code, the
orchestrator waits for an external event with ``wait_for_external_event`` and a deadline with
``create_timer``, and ``task_any`` decides which came first. Up to three answers are accepted;
a wrong code lets the approver try again until the deadline.
"""

import datetime as dt
import json

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@myApp.route(route="orchestrators/{functionName}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    payload = json.loads(req.get_body().decode())
    instance_id = await client.start_new(req.route_params["functionName"], client_input=payload)
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def approval_workflow(context: df.DurableOrchestrationContext):
    request = context.get_input()
    challenge_code = yield context.call_activity("send_approval_request", request)

    expiration = context.current_utc_datetime + dt.timedelta(seconds=request["timeoutSeconds"])
    timeout_task = context.create_timer(expiration)
    context.set_custom_status({"state": "awaiting approval", "attempts": 0})

    decision = None
    attempts = 0
    for _ in range(3):
        response_task = context.wait_for_external_event("ApprovalResponse")
        winner = yield context.task_any([response_task, timeout_task])
        if winner != response_task:
            break
        attempts += 1
        response = response_task.result
        if response.get("code") == challenge_code:
            decision = response
            break
        context.set_custom_status({"state": "wrong code", "attempts": attempts})

    timed_out = timeout_task.is_completed
    if not timed_out:
        timeout_task.cancel()

    if decision is None:
        context.set_custom_status({"state": "expired", "attempts": attempts})
        return {"approved": False, "timedOut": timed_out, "attempts": attempts}
    outcome = "approved" if decision["approved"] else "rejected"
    yield context.call_activity(
        "notify_requester", {"requester": request["requester"], "outcome": outcome}
    )
    context.set_custom_status({"state": outcome, "attempts": attempts})
    return {
        "approved": decision["approved"],
        "approver": decision["approver"],
        "timedOut": False,
        "attempts": attempts,
    }


@myApp.activity_trigger(input_name="request")
def send_approval_request(request: dict) -> int:
    """'Sends' the approver a challenge code; derived from the request so a test can know it."""
    return (request["amount"] * 37 + len(request["requester"])) % 10000


@myApp.activity_trigger(input_name="message")
def notify_requester(message: dict) -> str:
    return f"{message['requester']}: {message['outcome']}"
