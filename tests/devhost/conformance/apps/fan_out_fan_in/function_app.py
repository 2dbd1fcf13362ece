"""Fan-out/fan-in: N activities scheduled at once, awaited together, their results summed.

In the style of Microsoft's ``samples-v2/fan_in_fan_out`` (which backs up files to blobs): a
first activity lists the work, one activity per item runs in parallel, ``task_all`` gathers.
"""

import json
import time

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
def backup_site_content(context: df.DurableOrchestrationContext):
    settings = context.get_input()
    files = yield context.call_activity("get_file_list", settings["files"])
    context.set_custom_status({"phase": "copying", "files": len(files)})
    tasks = [context.call_activity("copy_file", name) for name in files]
    sizes = yield context.task_all(tasks)
    context.set_custom_status({"phase": "done", "files": len(files)})
    return {"files": len(sizes), "totalBytes": sum(sizes), "sizes": sizes}


@myApp.orchestration_trigger(context_name="context")
def first_answer(context: df.DurableOrchestrationContext):
    """task_any over parallel activities: the orchestrator goes on with the first to finish."""
    delays = context.get_input()["delays_ms"]
    tasks = [context.call_activity("wait_then_echo", ms) for ms in delays]
    winner = yield context.task_any(tasks)
    rest = yield context.task_all(tasks)
    return {"winner": winner.result, "all": rest}


@myApp.activity_trigger(input_name="count")
def get_file_list(count: int) -> list:
    return [f"file-{index:03d}.bin" for index in range(1, count + 1)]


@myApp.activity_trigger(input_name="name")
def copy_file(name: str) -> int:
    """Pretend to copy the file; its 'size' is its number squared."""
    number = int(name.removeprefix("file-").removesuffix(".bin"))
    return number * number


@myApp.activity_trigger(input_name="ms")
def wait_then_echo(ms: int) -> int:
    time.sleep(ms / 1000)
    return ms
