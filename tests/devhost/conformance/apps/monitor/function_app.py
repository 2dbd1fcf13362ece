"""Monitor: poll an external job on a durable timer until it is done or the monitor expires.

Two shapes of the pattern from Microsoft's monitor sample: a ``while`` loop over
``create_timer`` + activity inside one execution, and an eternal orchestration that checks once
per execution and calls ``continue_as_new``. Progress is published with ``set_custom_status``.
"""

import datetime as dt
import json
import threading

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

_checks: dict = {}
_checks_lock = threading.Lock()


@myApp.route(route="orchestrators/{functionName}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    payload = json.loads(req.get_body().decode())
    instance_id = await client.start_new(req.route_params["functionName"], client_input=payload)
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def job_monitor(context: df.DurableOrchestrationContext):
    job = context.get_input()
    expiry = context.current_utc_datetime + dt.timedelta(seconds=job["expirySeconds"])
    checks = 0
    while context.current_utc_datetime < expiry:
        job_status = yield context.call_activity("get_job_status", job)
        checks += 1
        context.set_custom_status({"checks": checks, "jobStatus": job_status})
        if job_status == "Completed":
            alert = yield context.call_activity("send_alert", job["jobId"])
            return {"checks": checks, "outcome": "completed", "alert": alert}
        next_check = context.current_utc_datetime + dt.timedelta(milliseconds=job["intervalMs"])
        yield context.create_timer(next_check)
    context.set_custom_status({"checks": checks, "jobStatus": "Unknown"})
    return {"checks": checks, "outcome": "expired"}


@myApp.orchestration_trigger(context_name="context")
def job_monitor_eternal(context: df.DurableOrchestrationContext):
    job = context.get_input()
    job_status = yield context.call_activity("get_job_status", job)
    checks = job.get("checks", 0) + 1
    context.set_custom_status({"checks": checks, "jobStatus": job_status})
    if job_status == "Completed":
        alert = yield context.call_activity("send_alert", job["jobId"])
        return {"checks": checks, "outcome": "completed", "alert": alert}
    next_check = context.current_utc_datetime + dt.timedelta(milliseconds=job["intervalMs"])
    yield context.create_timer(next_check)
    context.continue_as_new({**job, "checks": checks})
    return None


@myApp.activity_trigger(input_name="job")
def get_job_status(job: dict) -> str:
    """The 'external job': done after ``completesAfter`` checks (never when it is null)."""
    with _checks_lock:
        _checks[job["jobId"]] = seen = _checks.get(job["jobId"], 0) + 1
    done = job["completesAfter"] is not None and seen >= job["completesAfter"]
    return "Completed" if done else "Running"


@myApp.activity_trigger(input_name="job_id")
def send_alert(job_id: str) -> str:
    return f"job {job_id} is done"
