"""JSON bodies of the Durable Functions HTTP API, shaped exactly as the extension writes them.

Reference: shared/reference/durable-protocol.md §5.2 (check-status payload), §5.3 (status payload
and the ``historyEvents`` transformation of ``DurableClient.GetDurableOrchestrationStatusAsync``).
Everything here is pure: stored JSON text and ``InstanceStatus`` records in, dicts out.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote_plus

from devhost.taskhub import EntityStatus, InstanceStatus, RuntimeStatus

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/runtime/webhooks/durabletask-rpc"  # the SDK's rpcBaseUrl, with the key in the path
DEFAULT_CONNECTION = "Storage"

_EVENT_TYPES = {
    0: "ExecutionStarted",
    1: "ExecutionCompleted",
    2: "ExecutionFailed",
    3: "ExecutionTerminated",
    4: "TaskScheduled",
    5: "TaskCompleted",
    6: "TaskFailed",
    7: "SubOrchestrationInstanceCreated",
    8: "SubOrchestrationInstanceCompleted",
    9: "SubOrchestrationInstanceFailed",
    10: "TimerCreated",
    11: "TimerFired",
    12: "OrchestratorStarted",
    13: "OrchestratorCompleted",
    14: "EventSent",
    15: "EventRaised",
    16: "ContinueAsNew",
    17: "GenericEvent",
    18: "HistoryState",
    19: "ExecutionSuspended",
    20: "ExecutionResumed",
    21: "ExecutionRewound",
}
_STATUS_NAMES = {status.code: status.value for status in RuntimeStatus}


def parse_json_or_raw(text: str | None) -> Any:
    """The extension's ``ParseToJToken``: JSON when it parses, else the trimmed raw string."""
    if text is None:
        return None
    text = text.strip()
    if text == "":
        return ""
    try:
        return json.loads(text)
    except ValueError:
        return text


def status_time(moment: dt.datetime) -> str:
    """``DateTime.ToString("s") + "Z"``: UTC, no fractional seconds."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def dotnet_time(moment: dt.datetime) -> str:
    """How Newtonsoft writes a UTC ``DateTime``: up to 7 fraction digits, trailing zeros dropped."""
    text = _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def status_payload(
    status: InstanceStatus, *, show_input: bool = True, show_history_output: bool = False
) -> dict[str, Any]:
    """``StatusResponsePayload`` (§5.3); ``historyEvents`` only when the history was fetched."""
    payload: dict[str, Any] = {
        "name": status.name,
        "instanceId": status.instance_id,
        "runtimeStatus": status.runtime_status.value,
        "input": parse_json_or_raw(status.input) if show_input else None,
        "customStatus": parse_json_or_raw(status.custom_status),
        "output": parse_json_or_raw(status.output),
        "createdTime": status_time(status.created_time),
        "lastUpdatedTime": status_time(status.last_updated_time),
    }
    if status.history is not None:
        payload["historyEvents"] = history_events(
            status.history, show_input=show_input, show_history_output=show_history_output
        )
    return payload


def history_events(
    history: Iterable[dict[str, Any]], *, show_input: bool, show_history_output: bool
) -> list[dict[str, Any]]:
    """The extension's history transformation for the status API (reference §5.3).

    Event types become names; EventId/IsPlayed go; OrchestratorStarted/Completed and every
    TaskScheduled/SubOrchestrationInstanceCreated that has a completion are folded into that
    completion (FunctionName, ScheduledTime and, with showInput, Input).
    """
    items = [dict(event) for event in history]
    scheduled: dict[str, tuple[int, dict[str, Any]]] = {}
    drop: set[int] = set()
    for index, item in enumerate(items):
        code = item.get("EventType")
        name = _EVENT_TYPES.get(code) if isinstance(code, int) else None
        if name is None:
            continue
        item["EventType"] = name
        if name in ("TaskScheduled", "SubOrchestrationInstanceCreated"):
            scheduled[f"{name}_{item.get('EventId')}"] = (index, dict(item))
            item.pop("Version", None)
        elif name in ("TaskCompleted", "TaskFailed"):
            _fold_scheduled(
                item,
                scheduled.get(f"TaskScheduled_{item.get('TaskScheduledId')}"),
                drop,
                show_input,
            )
            item.pop("TaskScheduledId", None)
            _shape_result(
                item, show_history_output and name == "TaskCompleted", name == "TaskCompleted"
            )
        elif name in ("SubOrchestrationInstanceCompleted", "SubOrchestrationInstanceFailed"):
            key = f"SubOrchestrationInstanceCreated_{item.get('TaskScheduledId')}"
            _fold_scheduled(item, scheduled.get(key), drop, show_input)
            item.pop("TaskScheduledId", None)
            completed = name == "SubOrchestrationInstanceCompleted"
            _shape_result(item, show_history_output and completed, completed)
        elif name == "ExecutionStarted":
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(key, None)
        elif name == "ExecutionCompleted":
            code = item.get("OrchestrationStatus")
            if isinstance(code, int) and code in _STATUS_NAMES:
                item["OrchestrationStatus"] = _STATUS_NAMES[code]
            _shape_result(item, show_history_output, True)
        elif name == "TimerFired":
            item.pop("TimerId", None)
        elif name in ("OrchestratorStarted", "OrchestratorCompleted"):
            drop.add(index)
        if not show_input:
            item.pop("Input", None)
        item.pop("EventId", None)
        item.pop("IsPlayed", None)
    return [item for index, item in enumerate(items) if index not in drop]


def _fold_scheduled(
    item: dict[str, Any],
    scheduled: tuple[int, dict[str, Any]] | None,
    drop: set[int],
    show_input: bool,
) -> None:
    if scheduled is None:
        return
    index, event = scheduled
    item["ScheduledTime"] = event.get("Timestamp")
    item["FunctionName"] = event.get("Name")
    if show_input:
        item["Input"] = event.get("Input")
    drop.add(index)


def _shape_result(item: dict[str, Any], parse: bool, removable: bool) -> None:
    if removable and not parse:
        item.pop("Result", None)
    elif parse and "Result" in item:
        item["Result"] = parse_json_or_raw(item["Result"])


def entity_payload(entity: EntityStatus, *, fetch_state: bool) -> dict[str, Any]:
    """``DurableEntityStatus`` as the list-entities endpoint returns it."""
    return {
        "entityId": {"name": entity.name, "key": entity.key},
        "lastOperationTime": dotnet_time(entity.last_operation_time),
        "state": parse_json_or_raw(entity.state) if fetch_state else None,
    }


def management_urls(
    origin: str,
    instance_id: str,
    hub_name: str,
    *,
    connection: str = DEFAULT_CONNECTION,
    system_key: str | None = None,
    return_internal_server_error_on_failure: bool = False,
) -> dict[str, str]:
    """``HttpManagementPayload`` for one instance (reference §5.2), including ``rewindPostUri``.

    ``origin`` is ``scheme://host[:port]`` of the incoming request; ids and query values are
    URL-encoded the way ``WebUtility.UrlEncode`` does (a space becomes ``+``).
    """
    prefix = f"{origin}{WEBHOOK_PATH}/instances/{quote_plus(instance_id)}"
    suffix = f"taskHub={quote_plus(hub_name)}&connection={quote_plus(connection)}"
    if system_key:
        suffix += f"&code={quote_plus(system_key)}"
    status_uri = f"{prefix}?{suffix}"
    if return_internal_server_error_on_failure:
        status_uri += "&returnInternalServerErrorOnFailure=true"
    return {
        "id": instance_id,
        "statusQueryGetUri": status_uri,
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{suffix}",
        "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{suffix}",
        "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{suffix}",
        "purgeHistoryDeleteUri": f"{prefix}?{suffix}",
        "restartPostUri": f"{prefix}/restart?{suffix}",
        "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{suffix}",
        "resumePostUri": f"{prefix}/resume?reason={{text}}&{suffix}",
    }


def check_status_payload(urls: dict[str, str]) -> dict[str, str]:
    """The body of the extension's own 202 (no ``rewindPostUri``, unlike the SDK's copy)."""
    keys = (
        "id",
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
        "restartPostUri",
        "suspendPostUri",
        "resumePostUri",
    )
    return {key: urls[key] for key in keys}


def argument_error(message: str) -> dict[str, Any]:
    """Body of an uncaught ``ArgumentException`` (400)."""
    return {
        "Message": "One or more of the arguments submitted is incorrect",
        "ExceptionMessage": message,
        "ExceptionType": "System.ArgumentException",
        "StackTrace": None,
    }


def server_error(message: str, exception_type: str = "System.Exception") -> dict[str, Any]:
    """Body of any other uncaught exception (500)."""
    return {
        "Message": "Something went wrong while processing your request",
        "ExceptionMessage": message,
        "ExceptionType": exception_type,
        "StackTrace": None,
    }
