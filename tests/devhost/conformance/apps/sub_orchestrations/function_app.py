"""Sub-orchestrations: a parent orchestrator calling child orchestrators.

Children are started with instance ids the parent chooses and with ids the runtime generates;
a failing child surfaces in the parent as an exception; ``call_sub_orchestrator_with_retry``
starts a child again until it succeeds or the attempts run out.
"""

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
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], None, json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def provision_tenant(context: df.DurableOrchestrationContext):
    order = context.get_input()
    tenant = order["tenant"]
    regional = [
        context.call_sub_orchestrator(
            "provision_region",
            {"tenant": tenant, "region": region},
            f"{context.instance_id}-{region}",
        )
        for region in order["regions"]
    ]
    deployed = yield context.task_all(regional)
    context.set_custom_status({"deployed": len(deployed)})
    audit = yield context.call_sub_orchestrator("audit_tenant", {"tenant": tenant})
    return {"deployed": deployed, "audit": audit}


@myApp.orchestration_trigger(context_name="context")
def provision_region(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    server = yield context.call_activity("allocate_server", spec)
    return {
        "region": spec["region"],
        "server": server,
        "instanceId": context.instance_id,
        "parent": context.parent_instance_id,
    }


@myApp.orchestration_trigger(context_name="context")
def audit_tenant(context: df.DurableOrchestrationContext):
    tenant = context.get_input()["tenant"]
    verdict = yield context.call_activity("audit", tenant)
    return {
        "verdict": verdict,
        "instanceId": context.instance_id,
        "parent": context.parent_instance_id,
    }


@myApp.orchestration_trigger(context_name="context")
def migrate_tables(context: df.DurableOrchestrationContext):
    key = context.get_input()["key"]
    try:
        yield context.call_sub_orchestrator(
            "failing_migration", {"table": "orders"}, f"{context.instance_id}-orders"
        )
        failure = None
    except Exception as error:
        failure = str(error)
    retried = yield context.call_sub_orchestrator_with_retry(
        "flaky_migration", df.RetryOptions(200, 3), {"key": f"{key}-a", "failures": 2}
    )
    try:
        yield context.call_sub_orchestrator_with_retry(
            "flaky_migration", df.RetryOptions(100, 2), {"key": f"{key}-b", "failures": 5}
        )
        exhausted = None
    except Exception as error:
        exhausted = str(error)
    return {"failure": failure, "retried": retried, "exhausted": exhausted}


@myApp.orchestration_trigger(context_name="context")
def migrate_without_catching(context: df.DurableOrchestrationContext):
    yield context.call_sub_orchestrator("failing_migration", {"table": "invoices"})
    return "unreachable"


@myApp.orchestration_trigger(context_name="context")
def failing_migration(context: df.DurableOrchestrationContext):
    table = context.get_input()["table"]
    yield context.call_activity("lock_table", table)
    raise RuntimeError(f"cannot migrate table {table}: lock timeout")


@myApp.orchestration_trigger(context_name="context")
def flaky_migration(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    attempt = yield context.call_activity("count_attempt", spec["key"])
    if attempt <= spec["failures"]:
        raise RuntimeError(f"migration attempt {attempt} failed")
    return {"attempt": attempt}


@myApp.activity_trigger(input_name="spec")
def allocate_server(spec: dict) -> str:
    return f"{spec['tenant']}-{spec['region']}-01"


@myApp.activity_trigger(input_name="tenant")
def audit(tenant: str) -> str:
    return f"{tenant}: ok"


@myApp.activity_trigger(input_name="table")
def lock_table(table: str) -> str:
    return f"locked {table}"


@myApp.activity_trigger(input_name="key")
def count_attempt(key: str) -> int:
    with _attempts_lock:
        _attempts[key] = _attempts.get(key, 0) + 1
        return _attempts[key]
