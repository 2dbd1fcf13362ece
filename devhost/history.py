"""DTFx history events: builders and their JSON form (reference durable-protocol.md §1.2).

Events are plain dicts with DTFx's property names, built with every ``[DataMember]`` of their
class (nulls included, as Newtonsoft emits them) so the SDK finds every attribute it reads.
They are stored as compact JSON text *without* ``IsPlayed``: whether an event was played is a
property of the episode that sends it, so :func:`played_text` adds it when a context is built.
"""

from __future__ import annotations

import datetime as dt
import json
import traceback
from enum import IntEnum
from typing import Any

UTC = dt.timezone.utc

Event = dict[str, Any]


class EventType(IntEnum):
    """DTFx ``EventType`` (identical numbers in the Python SDK)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20
    EXECUTION_REWOUND = 21


# --- timestamps -------------------------------------------------------------------------------


def format_timestamp(when: dt.datetime) -> str:
    """DTFx's round-trip form, 7 fractional digits: ``2024-01-01T00:00:09.1234560Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_timestamp(text: str) -> dt.datetime:
    """Parse ISO-8601 (``Z`` or offset, up to 7 fractional digits) into an aware UTC datetime."""
    value = text.strip()
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    dot = value.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(value) and value[end].isdigit():
            end += 1
        value = value[: dot + 1] + value[dot + 1 : end][:6].ljust(6, "0") + value[end:]
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --- builders ---------------------------------------------------------------------------------


def _event(event_type: EventType, now: dt.datetime, event_id: int = -1, **fields: Any) -> Event:
    event: Event = {"EventType": int(event_type), "EventId": event_id}
    event["Timestamp"] = format_timestamp(now)
    event.update(fields)
    return event


def orchestrator_started(now: dt.datetime) -> Event:
    return _event(EventType.ORCHESTRATOR_STARTED, now)


def orchestrator_completed(now: dt.datetime) -> Event:
    return _event(EventType.ORCHESTRATOR_COMPLETED, now)


def execution_started(
    now: dt.datetime,
    *,
    instance_id: str,
    execution_id: str,
    name: str,
    version: str | None,
    input_json: str | None,
    parent: dict[str, Any] | None = None,
    generation: int = 0,
) -> Event:
    """``parent`` is DTFx's ``ParentInstance``: see :func:`parent_instance`."""
    return _event(
        EventType.EXECUTION_STARTED,
        now,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
        Name=name,
        Version=version if version is not None else "",
        Input=input_json,
        Tags=None,
        Correlation=None,
        ParentTraceContext=None,
        ScheduledStartTime=None,
        Generation=generation,
    )


def parent_instance(
    name: str,
    instance_id: str,
    execution_id: str,
    task_schedule_id: int,
    version: str | None = None,
) -> dict[str, Any]:
    """DTFx's ``ParentInstance`` of a sub-orchestration: the parent's name, version and ids."""
    return {
        "Name": name,
        "Version": version if version is not None else "",
        "OrchestrationInstance": {"InstanceId": instance_id, "ExecutionId": execution_id},
        "TaskScheduleId": task_schedule_id,
    }


def execution_completed(
    now: dt.datetime, status_code: int, result: str | None, failure_details: Any = None
) -> Event:
    return _event(
        EventType.EXECUTION_COMPLETED,
        now,
        OrchestrationStatus=status_code,
        Result=result,
        FailureDetails=failure_details,
    )


def execution_terminated(now: dt.datetime, reason: str | None) -> Event:
    return _event(EventType.EXECUTION_TERMINATED, now, Input=reason)


def execution_suspended(now: dt.datetime, reason: str | None) -> Event:
    return _event(EventType.EXECUTION_SUSPENDED, now, Reason=reason)


def execution_resumed(now: dt.datetime, reason: str | None) -> Event:
    return _event(EventType.EXECUTION_RESUMED, now, Reason=reason)


def task_scheduled(now: dt.datetime, event_id: int, name: str, input_json: str | None) -> Event:
    return _event(
        EventType.TASK_SCHEDULED,
        now,
        event_id,
        Name=name,
        Version="",
        Input=input_json,
        Tags=None,
        ParentTraceContext=None,
    )


def task_completed(now: dt.datetime, task_id: int, result: str | None) -> Event:
    return _event(EventType.TASK_COMPLETED, now, TaskScheduledId=task_id, Result=result)


def task_failed(now: dt.datetime, task_id: int, reason: str, details: str | None) -> Event:
    return _event(
        EventType.TASK_FAILED,
        now,
        TaskScheduledId=task_id,
        Reason=reason,
        Details=details,
        FailureDetails=None,
    )


def sub_orchestration_created(
    now: dt.datetime,
    event_id: int,
    name: str,
    instance_id: str,
    input_json: str | None,
    version: str | None = None,
) -> Event:
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        now,
        event_id,
        Name=name,
        Version=version if version is not None else "",
        InstanceId=instance_id,
        Input=input_json,
        Tags=None,
        ClientSpanId=None,
    )


def sub_orchestration_completed(now: dt.datetime, task_id: int, result: str | None) -> Event:
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, now, TaskScheduledId=task_id, Result=result
    )


def sub_orchestration_failed(
    now: dt.datetime, task_id: int, reason: str, details: str | None
) -> Event:
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
        now,
        TaskScheduledId=task_id,
        Reason=reason,
        Details=details,
        FailureDetails=None,
    )


def timer_created(now: dt.datetime, event_id: int, fire_at: dt.datetime) -> Event:
    return _event(EventType.TIMER_CREATED, now, event_id, FireAt=format_timestamp(fire_at))


def timer_fired(now: dt.datetime, timer_id: int, fire_at: str) -> Event:
    return _event(EventType.TIMER_FIRED, now, TimerId=timer_id, FireAt=fire_at)


def event_sent(
    now: dt.datetime, event_id: int, instance_id: str, name: str, input_json: str
) -> Event:
    return _event(
        EventType.EVENT_SENT, now, event_id, InstanceId=instance_id, Name=name, Input=input_json
    )


def event_raised(now: dt.datetime, name: str, input_json: str | None) -> Event:
    return _event(EventType.EVENT_RAISED, now, Name=name, Input=input_json, ParentTraceContext=None)


def generic_event(now: dt.datetime, data: str) -> Event:
    return _event(EventType.GENERIC_EVENT, now, Data=data)


# --- JSON text --------------------------------------------------------------------------------


def dumps(event: Event) -> str:
    """Compact JSON text of an event, as stored (no ``IsPlayed``)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Event:
    event: Event = json.loads(text)
    return event


def played_text(text: str, is_played: bool) -> str:
    """The stored text with ``IsPlayed`` added, without a parse/serialize round trip."""
    return ('{"IsPlayed":true,' if is_played else '{"IsPlayed":false,') + text[1:]


def with_is_played(event: Event, is_played: bool) -> Event:
    shown = dict(event)
    shown["IsPlayed"] = is_played
    return shown


# --- failures ---------------------------------------------------------------------------------


def activity_failure(name: str, exc: BaseException) -> tuple[str, str]:
    """TaskFailed Reason and Details for a failed activity (reference §3.3).

    Details mimics the serialized .NET exception the extension stores, so code that parses
    ``json.loads(details)["Message"]`` keeps working.
    """
    # The worker's FunctionFailed already carries "<Type>: <message>" and the user's stack.
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    stack = getattr(exc, "stack_trace", None) or "".join(traceback.format_exception(exc))
    details = dotnet_exception(
        "System.Exception", message, stack, assembly="System.Private.CoreLib"
    )
    return f"Activity function '{name}' failed: {message}", details


def dotnet_exception(
    class_name: str, message: str, stack: str | None, *, assembly: str, hresult: int = -2146233088
) -> str:
    """A .NET exception as the extension's error converter serializes it (TaskFailed Details)."""
    details = {
        "$type": f"{class_name}, {assembly}",
        "ClassName": class_name,
        "Message": message,
        "Data": None,
        "InnerException": None,
        "HelpURL": None,
        "StackTraceString": (stack or "").rstrip() or None,
        "RemoteStackTraceString": None,
        "RemoteStackIndex": 0,
        "ExceptionMethod": None,
        "HResult": hresult,
        "Source": None,
        "WatsonBuckets": None,
    }
    return json.dumps(details)
