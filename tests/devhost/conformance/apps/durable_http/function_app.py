"""Durable HTTP: ``context.call_http`` from an orchestrator.

The orchestrators call an HTTP API whose base URL comes in the orchestration input, as an app
would take it from its configuration. ``call_http`` gives the orchestrator the response as a
dict: ``statusCode``, ``headers`` and ``content`` (the body as text).
"""

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
def check_inventory(context: df.DurableOrchestrationContext):
    settings = context.get_input()
    response = yield context.call_http(
        "GET",
        f"{settings['baseUrl']}/inventory/{settings['item']}",
        headers={"X-Correlation-Id": context.instance_id},
    )
    if response["statusCode"] != 200:
        return {"found": False, "status": response["statusCode"], "body": response["content"]}
    stock = json.loads(response["content"])
    return {"found": True, "inStock": stock["inStock"], "response": response}


@myApp.orchestration_trigger(context_name="context")
def place_order(context: df.DurableOrchestrationContext):
    settings = context.get_input()
    created = yield context.call_http(
        "POST",
        f"{settings['baseUrl']}/orders",
        {"sku": settings["sku"], "quantity": 2},
        {"Content-Type": "application/json"},
    )
    note = yield context.call_http("POST", f"{settings['baseUrl']}/notes", "rush delivery")
    raw_note = yield context.call_http(
        "PUT", f"{settings['baseUrl']}/notes", "rush delivery", is_raw_str=True
    )
    return {
        "order": {"status": created["statusCode"], "body": json.loads(created["content"])},
        "note": {"status": note["statusCode"], "body": json.loads(note["content"])},
        "rawNote": {"status": raw_note["statusCode"], "body": json.loads(raw_note["content"])},
    }


@myApp.orchestration_trigger(context_name="context")
def start_export(context: df.DurableOrchestrationContext):
    """Calls an API that answers 202 Accepted with a Location to poll."""
    settings = context.get_input()
    response = yield context.call_http("POST", f"{settings['baseUrl']}/exports")
    return {
        "status": response["statusCode"],
        "location": response["headers"].get("Location"),
        "body": response["content"],
    }
