"""Error handling: activity failures caught with try/except, left uncaught, and retried with
``df.RetryOptions`` (after Microsoft's error-handling docs: a failed debit is compensated)."""

import json
import threading

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

_attempts: dict = {}
_attempts_lock = threading.Lock()


@myApp.route(route="orchestrators/{functionName}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    payload = json.loads(req.get_body().decode())
    instance_id = await client.start_new(req.route_params["functionName"], client_input=payload)
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def transfer_funds(context: df.DurableOrchestrationContext):
    transfer = context.get_input()
    yield context.call_activity("debit_account", transfer)
    try:
        yield context.call_activity("credit_account", transfer)
    except Exception as error:
        # Refund the source account.
        refund = yield context.call_activity("credit_back", transfer)
        return {"transferred": False, "error": str(error), "refund": refund}
    return {"transferred": True}


@myApp.orchestration_trigger(context_name="context")
def transfer_unprotected(context: df.DurableOrchestrationContext):
    transfer = context.get_input()
    yield context.call_activity("debit_account", transfer)
    yield context.call_activity("credit_account", transfer)
    return {"transferred": True}


@myApp.orchestration_trigger(context_name="context")
def settle_with_retry(context: df.DurableOrchestrationContext):
    request = context.get_input()
    retry = df.RetryOptions(
        first_retry_interval_in_milliseconds=request["intervalMs"],
        max_number_of_attempts=request["attempts"],
    )
    try:
        result = yield context.call_activity_with_retry("flaky_gateway", retry, request)
    except Exception as error:
        return {"settled": False, "error": str(error)}
    return {"settled": True, "result": result}


@myApp.orchestration_trigger(context_name="context")
def settle_batch(context: df.DurableOrchestrationContext):
    """One failure among parallel activities makes task_all raise."""
    accounts = context.get_input()["accounts"]
    tasks = [context.call_activity("credit_account", {"to": a, "amount": 1}) for a in accounts]
    try:
        results = yield context.task_all(tasks)
    except Exception as error:
        return {"ok": False, "error": str(error)}
    return {"ok": True, "results": results}


@myApp.activity_trigger(input_name="transfer")
def debit_account(transfer: dict) -> str:
    return f"debited {transfer['amount']} from {transfer['from']}"


@myApp.activity_trigger(input_name="transfer")
def credit_account(transfer: dict) -> str:
    if transfer["to"].startswith("closed-"):
        raise ValueError(f"account {transfer['to']} is closed")
    return f"credited {transfer['amount']} to {transfer['to']}"


@myApp.activity_trigger(input_name="transfer")
def credit_back(transfer: dict) -> str:
    return f"refunded {transfer['amount']} to {transfer['from']}"


@myApp.activity_trigger(input_name="request")
def flaky_gateway(request: dict) -> dict:
    """Fails the first ``failures`` calls for ``key``, then answers."""
    with _attempts_lock:
        _attempts[request["key"]] = attempt = _attempts.get(request["key"], 0) + 1
    if attempt <= request["failures"]:
        raise ConnectionError(f"gateway timeout on attempt {attempt}")
    return {"attempt": attempt}
