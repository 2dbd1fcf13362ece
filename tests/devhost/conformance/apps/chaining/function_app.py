"""Function chaining: activities called one after another, each awaiting the previous one.

Written in the style of Microsoft's ``samples-v2/function_chaining`` (Python v2 model): an HTTP
starter, an orchestrator and its activities. Started by ``POST /api/orchestrators/{name}``.
"""

import json

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@myApp.route(route="orchestrators/{functionName}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], None, json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    greetings = []
    for city in cities:
        greeting = yield context.call_activity("say_hello", city)
        greetings.append(greeting)
        context.set_custom_status({"greeted": len(greetings), "last": city})
    return greetings


@myApp.orchestration_trigger(context_name="context")
def relay(context: df.DurableOrchestrationContext):
    """Each step takes the previous step's output: the result records the order of the calls."""
    baton = {"route": [], "distance": 0}
    for leg in context.get_input():
        baton = yield context.call_activity(run_leg, {"baton": baton, "leg": leg})
    summary = yield context.call_activity("summarize", baton)
    return {"baton": baton, "summary": summary}


@myApp.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@myApp.activity_trigger(input_name="step")
def run_leg(step: dict) -> dict:
    baton, leg = step["baton"], step["leg"]
    return {
        "route": [*baton["route"], leg["to"]],
        "distance": baton["distance"] + leg["km"],
    }


@myApp.activity_trigger(input_name="baton")
def summarize(baton: dict) -> str:
    return " -> ".join(baton["route"]) + f" ({baton['distance']} km)"
