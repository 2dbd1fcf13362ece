"""Rewind: undo the failures of a Failed orchestration so it runs on (reference §5.1).

The extension's (legacy) rewind turns each failure event into a ``GenericEvent``
("Rewound: ..."), runs the failed activities again and rewinds failed sub-orchestrations. A
retry loop that gave up gets only its last attempt back: its earlier failures were retried and
stay, otherwise the replay would no longer match the history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devhost import history as h
from devhost.executor import EpisodeExecutor, EpisodeInstance, build_context, invoke_orchestrator
from devhost.history import Event, EventType
from devhost.workitems import ActivityWork


@dataclass
class RewindPlan:
    """A Failed instance's history with its failures undone, and the work to run again."""

    history: list[Event]
    rerun: list[ActivityWork]
    children: list[str]  # failed sub-orchestrations to rewind as well


def plan_rewind(
    executor: EpisodeExecutor,
    instance: EpisodeInstance,
    stored_history: Sequence[str],
    child_is_failed: Callable[[str], bool],
) -> RewindPlan:
    """Undo the failures of a Failed instance, as the extension's (legacy) rewind does.

    Failure events become ``GenericEvent`` ("Rewound: ..."), their activities run again and
    failed sub-orchestrations are rewound too. A retry loop that gave up gets its last
    attempt back (its earlier, retried failures stay). Replays the orchestrator once to know
    which failures belong to retry loops.
    """
    events = [h.loads(text) for text in stored_history]
    failures: set[int] | None = None
    timers: set[int] = set()
    found = executor.index.orchestrator(instance.name)
    if found is not None:
        context = build_context(instance, stored_history, [], executor.http_async_sleep_ms)
        state, _ = invoke_orchestrator(found[1], context)
        walk = executor.walk_actions(instance, state, events, [])
        if walk.error is None:
            failures, timers = walk.rewind_targets()
    scheduled = {
        e["EventId"]: e
        for e in events
        if e["EventType"]
        in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED)
    }
    plan = RewindPlan(history=[], rerun=[], children=[])
    for event in events:
        kind = event["EventType"]
        ref = event.get("TaskScheduledId", event.get("TimerId"))
        task_id = int(ref if ref is not None else event["EventId"])
        undo = kind == EventType.EXECUTION_COMPLETED or (
            kind in (EventType.TIMER_CREATED, EventType.TIMER_FIRED) and task_id in timers
        )
        if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
            origin = scheduled.get(task_id)
            undo = origin is not None and (failures is None or task_id in failures)
            if undo and origin is not None and kind == EventType.TASK_FAILED:
                plan.rerun.append(ActivityWork(task_id, origin["Name"], origin["Input"]))
            elif undo and origin is not None:
                undo = child_is_failed(origin["InstanceId"])
                if undo:
                    plan.children.append(origin["InstanceId"])
        if undo:
            label = f"{EventType(kind).name} {task_id}" if task_id != -1 else EventType(kind).name
            plan.history.append(
                h.generic_event(h.parse_timestamp(event["Timestamp"]), f"Rewound: {label}")
            )
        else:
            plan.history.append(event)
    return plan
