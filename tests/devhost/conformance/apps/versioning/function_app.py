"""Orchestration versioning: ``context.version``, ``start_new(version=...)`` and the
``defaultVersion`` of host.json, for orchestrations and sub-orchestrations.

Like Microsoft's ``samples-v2/orchestration_versioning``: the orchestrator branches on its own
version (kept from its creation), and asks sub-orchestrations for theirs: one started with an
explicit version, one with the host's default, one through the retry API.
"""

import json

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@myApp.route(route="orchestrators/{functionName}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    function_name = req.route_params["functionName"]
    body = req.get_body()
    payload = json.loads(body) if body else None
    version = req.params.get("version")
    if version is not None:
        instance_id = await client.start_new(function_name, None, payload, version=version)
    else:
        instance_id = await client.start_new(function_name, None, payload)
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def process_order(context: df.DurableOrchestrationContext):
    order = context.get_input()
    if context.version == "1.0":
        # Legacy code path, kept for instances created as version 1.0.
        shipment = yield context.call_activity("ship_legacy", order)
    else:
        shipment = yield context.call_activity("ship_with_tracking", order)
    explicit = yield context.call_sub_orchestrator("report_version", version="1.5")
    default = yield context.call_sub_orchestrator("report_version")
    retried = yield context.call_sub_orchestrator_with_retry(
        "report_version", df.RetryOptions(100, 2), version="0.9"
    )
    return {
        "version": context.version,
        "shipment": shipment,
        "subExplicit": explicit,
        "subDefault": default,
        "subRetry": retried,
    }


@myApp.orchestration_trigger(context_name="context")
def report_version(context: df.DurableOrchestrationContext):
    return context.version


@myApp.activity_trigger(input_name="order")
def ship_legacy(order: dict) -> str:
    return f"shipped {order['sku']}"


@myApp.activity_trigger(input_name="order")
def ship_with_tracking(order: dict) -> str:
    return f"shipped {order['sku']} with tracking"
