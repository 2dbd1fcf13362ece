"""Durable entities: a function-based counter entity, driven from HTTP and from orchestrators.

As in Microsoft's counter-entity sample: the entity function keeps an integer state
(``DFApp.entity_trigger`` wraps it with ``df.Entity.create``); HTTP functions signal it and read
its state through the durable client; an orchestrator signals it and calls it.
"""

import json

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@myApp.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext):
    current_value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        current_value += context.get_input()
    elif operation == "reset":
        current_value = 0
    elif operation == "delete":
        context.destruct_on_exit()
        return
    context.set_state(current_value)
    context.set_result(current_value)


@myApp.route(route="counters/{key}/{operation}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def signal_counter(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_body()
    entity_id = df.EntityId("Counter", req.route_params["key"])
    await client.signal_entity(
        entity_id, req.route_params["operation"], json.loads(body) if body else None
    )
    return func.HttpResponse(status_code=202)


@myApp.route(route="counters/{key}", methods=["GET"])
@myApp.durable_client_input(client_name="client")
async def read_counter(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    entity_id = df.EntityId("Counter", req.route_params["key"])
    state = await client.read_entity_state(entity_id)
    body = {"exists": state.entity_exists, "state": state.entity_state}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@myApp.route(route="orchestrators/{functionName}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    payload = json.loads(req.get_body().decode())
    instance_id = await client.start_new(req.route_params["functionName"], client_input=payload)
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def count_visits(context: df.DurableOrchestrationContext):
    entity_id = df.EntityId("Counter", context.get_input()["key"])
    context.signal_entity(entity_id, "add", 10)
    after_add = yield context.call_entity(entity_id, "add", 5)
    current = yield context.call_entity(entity_id, "get")
    return {"afterAdd": after_add, "current": current}
