"""One orchestration episode as a pure step: (history, new events) -> new history + work.

:meth:`EpisodeExecutor.replay` is the extension's episode (reference §10): build the context
JSON (§1.1), call the app's orchestrator, walk its actions DTFx-style (:mod:`devhost.replay`) and
turn the outcome into history events, a status and work to dispatch. :meth:`EpisodeExecutor.fold`
is the shortcut that makes big fan-ins cheap: when a batch of completions cannot resume the
orchestrator, they are appended without calling it. Neither method raises: user and engine
errors alike become a failed orchestration, so one bad instance never stalls the worker.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devhost import history as h
from devhost.catalog import FunctionCatalog
from devhost.durablehttp import DEFAULT_ASYNC_SLEEP_MS
from devhost.history import Event, EventType
from devhost.replay import ActionWalk
from devhost.taskhub import OrchestratorInvoker, RuntimeStatus
from devhost.workitems import InstanceRecord, Work

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
MAX_CUSTOM_STATUS_KB = 16
WALK_CACHE_SIZE = 256
_log = logging.getLogger("devhost.engine")


@dataclass(frozen=True)
class EpisodeInstance:
    """What an episode needs to know about its instance (a row of the instances table)."""

    instance_id: str
    execution_id: str
    name: str
    version: str | None
    input: str | None
    status: RuntimeStatus
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None


def episode_instance(record: InstanceRecord) -> EpisodeInstance:
    return EpisodeInstance(
        instance_id=record.instance_id,
        execution_id=record.execution_id,
        name=record.name,
        version=record.version,
        input=record.input,
        status=record.status,
        parent_instance_id=record.parent_instance_id,
        parent_execution_id=record.parent_execution_id,
        parent_task_id=record.parent_task_id,
    )


@dataclass(frozen=True)
class NewExecution:
    """continue-as-new: the next execution's id, its ExecutionStarted and the carried events."""

    execution_id: str
    input: str | None
    started: Event
    carried: list[Event]


@dataclass
class EpisodeOutcome:
    history: list[Event]
    status: RuntimeStatus
    consumed: list[int]  # inbox row ids taken by this episode (held events stay)
    output: str | None = None
    custom_status: str | None = None
    custom_status_changed: bool = False
    work: list[Work] = field(default_factory=list)
    cancel_timers: list[int] = field(default_factory=list)
    parent_event: Event | None = None
    new_execution: NewExecution | None = None
    walk: ActionWalk | None = None  # cacheable for the next fold
    sdk_waiting: bool = False  # the SDK returned neither isDone nor error
    invoked: bool = False
    failure: str | None = None  # for the invocation log (never the payloads)


@dataclass
class _Plan:
    """The inbox split into what this episode runs, records and holds back."""

    run: list[Event]
    consumed: list[int]
    status: RuntimeStatus
    terminate: Event | None = None


class EpisodeExecutor:
    """Runs episodes against the app's orchestrators; ``default_version`` is host.json's
    ``defaultVersion``, given to sub-orchestrations started without a version."""

    def __init__(
        self,
        index: FunctionCatalog,
        default_version: str = "",
        *,
        http_async_sleep_ms: int = DEFAULT_ASYNC_SLEEP_MS,
    ) -> None:
        self.index = index
        self.default_version = default_version
        self.http_async_sleep_ms = http_async_sleep_ms

    # -- entry points ------------------------------------------------------------------------

    def fold(
        self,
        instance: EpisodeInstance,
        inbox: Sequence[tuple[int, Event]],
        now: dt.datetime,
        walk: ActionWalk,
    ) -> EpisodeOutcome | None:
        """Append completions that cannot resume the orchestrator, without invoking it.

        Returns None when a replay is needed; ``walk`` may then have been changed and must not be
        reused.
        """
        try:
            events = [event for _, event in inbox]
            if instance.status is not RuntimeStatus.RUNNING or not walk.can_absorb(events):
                return None
            started = h.orchestrator_started(now)
            walk.feed(started)
            for event in events:
                walk.feed(event)
            last = walk.last_node
            if walk.error is not None or last is None or last.state != 0:
                return None
            new_events, work = walk.take_new(now)
            if new_events or work:
                return None
            return EpisodeOutcome(
                history=[started, *events, h.orchestrator_completed(now)],
                status=RuntimeStatus.RUNNING,
                consumed=[row_id for row_id, _ in inbox],
                walk=walk,
                sdk_waiting=True,
            )
        except Exception:  # a fold is only an optimisation: fall back to a full replay
            _log.exception("folding events into %s failed; replaying", instance.instance_id)
            return None

    def replay(
        self,
        instance: EpisodeInstance,
        inbox: Sequence[tuple[int, Event]],
        now: dt.datetime,
        stored_history: Sequence[str],
    ) -> EpisodeOutcome:
        """Run one episode in full; never raises."""
        try:
            return self._replay(instance, inbox, now, stored_history)
        except Exception as exc:  # an engine bug must fail one instance, not the worker
            _log.exception("episode of %s failed inside the engine", instance.instance_id)
            message = f"Orchestrator function '{instance.name}' failed: engine error: {exc!r}"
            started = [h.orchestrator_started(now)]
            consumed = [row_id for row_id, _ in inbox]
            return self._failed(instance, now, started, consumed, message, invoked=False)

    # -- the episode -------------------------------------------------------------------------

    def _replay(
        self,
        instance: EpisodeInstance,
        inbox: Sequence[tuple[int, Event]],
        now: dt.datetime,
        stored_history: Sequence[str],
    ) -> EpisodeOutcome:
        started = h.orchestrator_started(now)
        plan = _plan(instance.status, inbox, first_episode=not stored_history)
        consumed = plan.consumed
        if plan.terminate is not None:
            reason = plan.terminate.get("Input")
            history = [started, plan.terminate]
            return self._finished(
                instance, now, history, consumed, RuntimeStatus.TERMINATED, reason
            )
        if not any(_needs_orchestrator(e) for e in plan.run):
            # Only suspend/resume bookkeeping: record it, nothing for the orchestrator to see.
            history = [started, *plan.run, h.orchestrator_completed(now)] if plan.run else []
            return EpisodeOutcome(history=history, status=plan.status, consumed=consumed)
        if not stored_history and plan.run[0]["EventType"] != EventType.EXECUTION_STARTED:
            _log.warning("instance %s has events but no ExecutionStarted", instance.instance_id)
            return EpisodeOutcome(history=[], status=instance.status, consumed=consumed)

        new_events = [started, *plan.run]
        found = self.index.orchestrator(instance.name)
        if found is None:
            missing = self.index.unknown("orchestrator", instance.name)
            message = f"Orchestrator function '{instance.name}' failed: {missing}"
            return self._failed(instance, now, new_events, consumed, message, invoked=False)
        state, stack = invoke_orchestrator(
            found[1],
            build_context(instance, stored_history, new_events, self.http_async_sleep_ms),
        )
        error = state.get("error") or None
        if isinstance(state.get("__devhost_invalid__"), str):
            error = state["__devhost_invalid__"]
            state = {"isDone": False, "actions": [[]], "error": error}

        custom_status, custom_changed = instance_custom_status(state)
        size = len(custom_status.encode("utf-16-le")) if custom_status is not None else 0
        if size > MAX_CUSTOM_STATUS_KB * 1024:
            message = (
                f"Orchestrator function '{instance.name}' failed: The UTF-16 size of the "
                f"JSON-serialized custom status must not exceed {MAX_CUSTOM_STATUS_KB} KB; it is "
                f"{size / 1024:.1f} KB. Keep progress details small and store big data elsewhere."
            )
            return self._failed(instance, now, new_events, consumed, message)

        stored = [h.loads(text) for text in stored_history]
        walk = self.walk_actions(instance, state, stored, new_events)
        if walk.error is not None:
            return self._failed(instance, now, new_events, consumed, walk.error)

        scheduled, work = walk.take_new(now)
        history = [*new_events, *scheduled]
        if walk.walk_complete and (error or state.get("isDone")):
            if error:
                message = f"Orchestrator function '{instance.name}' failed: {error}"
                details = f"Message: {error}, StackTrace: {stack}"
                outcome = self._failed(instance, now, history, consumed, message, details)
            elif walk.continued_as_new:
                outcome = self._continued_as_new(instance, now, history, consumed, walk)
            else:
                output = json.dumps(state["output"]) if "output" in state else None
                status = RuntimeStatus.COMPLETED
                outcome = self._finished(instance, now, history, consumed, status, output)
            outcome.work = work
        else:
            history.append(h.orchestrator_completed(now))
            outcome = EpisodeOutcome(
                history=history,
                status=plan.status,  # Running, or Suspended when a suspend came in this batch
                consumed=consumed,
                work=work,
                cancel_timers=walk.canceled_timers(),
                walk=walk,
                sdk_waiting=not error and not state.get("isDone"),
            )
        outcome.invoked = True
        outcome.failure = error
        outcome.custom_status = custom_status
        outcome.custom_status_changed = custom_changed
        return outcome

    def walk_actions(
        self,
        instance: EpisodeInstance,
        state: dict[str, Any],
        stored: Sequence[Event],
        new_events: Sequence[Event],
    ) -> ActionWalk:
        actions = state.get("actions") or [[]]
        walk = ActionWalk(
            instance_id=instance.instance_id,
            execution_id=instance.execution_id,
            orchestrator_name=instance.name,
            actions=list(actions[0]) if len(actions) == 1 else [],
            catalog=self.index,
            default_version=self.default_version,
            http_async_sleep=dt.timedelta(milliseconds=self.http_async_sleep_ms),
        )
        if len(actions) != 1:
            walk.error = (
                f"Orchestrator function '{instance.name}' failed: expected the V2 schema's single "
                f"list of actions, got {len(actions)} lists (is the SDK older than 1.7?)"
            )
        for event in stored:
            walk.feed(event)
        for event in new_events:
            walk.feed(event)
        return walk

    # -- endings -----------------------------------------------------------------------------

    def _failed(
        self,
        instance: EpisodeInstance,
        now: dt.datetime,
        history: list[Event],
        consumed: list[int],
        message: str,
        details: str | None = None,
        *,
        invoked: bool = True,
    ) -> EpisodeOutcome:
        status = RuntimeStatus.FAILED
        outcome = self._finished(
            instance, now, history, consumed, status, message, details or message
        )
        outcome.invoked = invoked
        return outcome

    def _finished(
        self,
        instance: EpisodeInstance,
        now: dt.datetime,
        history: list[Event],
        consumed: list[int],
        status: RuntimeStatus,
        result: str | None,
        details: str | None = None,
    ) -> EpisodeOutcome:
        """Completed, Failed or Terminated: close the history and tell the parent, if any."""
        closing = h.execution_completed(now, status.code, result)
        outcome = EpisodeOutcome(
            history=[*history, closing, h.orchestrator_completed(now)],
            status=status,
            consumed=consumed,
            output=result,
            failure=result if status is RuntimeStatus.FAILED else None,
        )
        if instance.parent_instance_id is not None and instance.parent_task_id is not None:
            if status is RuntimeStatus.COMPLETED:
                outcome.parent_event = h.sub_orchestration_completed(
                    now, instance.parent_task_id, result
                )
            else:
                outcome.parent_event = h.sub_orchestration_failed(
                    now, instance.parent_task_id, result or status.value, details
                )
        return outcome

    def _continued_as_new(
        self,
        instance: EpisodeInstance,
        now: dt.datetime,
        history: list[Event],
        consumed: list[int],
        walk: ActionWalk,
    ) -> EpisodeOutcome:
        raw = walk.continue_as_new_input
        new_input = json.dumps(raw) if raw is not None else None
        execution_id = uuid.uuid4().hex
        parent = None
        if instance.parent_instance_id is not None:
            parent = h.parent_instance(
                "",
                instance.parent_instance_id,
                instance.parent_execution_id or "",
                instance.parent_task_id if instance.parent_task_id is not None else -1,
            )
        started = h.execution_started(
            now,
            instance_id=instance.instance_id,
            execution_id=execution_id,
            name=instance.name,
            version=instance.version,
            input_json=new_input,
            parent=parent,
        )
        closing = h.execution_completed(now, RuntimeStatus.CONTINUED_AS_NEW.code, new_input)
        return EpisodeOutcome(
            history=[*history, closing, h.orchestrator_completed(now)],
            status=RuntimeStatus.CONTINUED_AS_NEW,
            consumed=consumed,
            new_execution=NewExecution(
                execution_id, new_input, started, walk.carried_over_events()
            ),
        )


# --- walks kept between episodes ---------------------------------------------------------


@dataclass
class CachedWalk:
    """An instance's walk after an episode that left the SDK waiting."""

    walk: ActionWalk
    execution_id: str
    history_count: int


class WalkCache:
    """Action walks of instances waiting on a fan-in, so their next episode can fold events."""

    def __init__(self, size: int = WALK_CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[str, CachedWalk] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: str, execution_id: str, history_count: int) -> ActionWalk | None:
        with self._lock:
            entry = self._entries.pop(instance_id, None)
        if entry is None or (entry.execution_id, entry.history_count) != (
            execution_id,
            history_count,
        ):
            return None
        return entry.walk

    def put(self, instance_id: str, entry: CachedWalk) -> None:
        with self._lock:
            self._entries[instance_id] = entry
            self._entries.move_to_end(instance_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def drop(self, instance_id: str) -> None:
        with self._lock:
            self._entries.pop(instance_id, None)


# --- helpers ----------------------------------------------------------------------------------


def build_context(
    instance: EpisodeInstance,
    stored_history: Sequence[str],
    new_events: Sequence[Event],
    http_async_sleep_ms: int = DEFAULT_ASYNC_SLEEP_MS,
) -> str:
    """The orchestration trigger's context JSON (reference §1.1), built mostly by string joins.

    Stored events are played; DTFx never marks OrchestratorStarted played, so neither do we.
    The long-timer settings are omitted on purpose: timers are then never split (§2.6).
    """
    parts = [
        h.played_text(text, not text.startswith('{"EventType":12,')) for text in stored_history
    ]
    parts.extend(h.played_text(h.dumps(event), False) for event in new_events)
    return (
        '{"history":['
        + ",".join(parts)
        + "]"
        + ',"input":'
        + (instance.input if instance.input is not None else "null")
        + ',"instanceId":'
        + json.dumps(instance.instance_id)
        + ',"isReplaying":'
        + ("true" if stored_history else "false")
        + ',"parentInstanceId":'
        + json.dumps(instance.parent_instance_id)
        + ',"upperSchemaVersion":1,"upperSchemaVersionNew":2'
        + f',"defaultHttpAsyncRequestSleepTimeMillseconds":{int(http_async_sleep_ms)}}}'
    )


def instance_custom_status(state: dict[str, Any]) -> tuple[str | None, bool]:
    """The custom status JSON text and whether the SDK reported one (the SDK drops falsy ones)."""
    if "customStatus" not in state or state["customStatus"] is None:
        return None, False
    return json.dumps(state["customStatus"], separators=(",", ":"), ensure_ascii=False), True


def invoke_orchestrator(invoker: OrchestratorInvoker, context: str) -> tuple[dict[str, Any], str]:
    """Call the orchestrator; returns its state dict and the user's stack trace, if it raised."""
    try:
        text = invoker(context)
        stack = ""
    except Exception as exc:
        message = str(exc)
        # The last marker is this orchestrator's: a failed child's details, quoted in the error
        # text before it, may hold the child's own marker (its state JSON escapes newlines, so
        # the marker never occurs inside the state).
        cut = message.rfind(OUT_OF_PROC_MARKER)
        stack = getattr(exc, "stack_trace", "")  # the worker's FunctionFailed carries the user's
        if not stack:
            cause = exc.__cause__ or exc
            stack = "".join(traceback.format_tb(cause.__traceback__)) if cause.__traceback__ else ""
        if cut == -1:
            return {"isDone": False, "actions": [[]], "error": message or type(exc).__name__}, stack
        text = message[cut + len(OUT_OF_PROC_MARKER) :]
    try:
        state = json.loads(text)
    except (TypeError, ValueError) as exc:
        return {
            "__devhost_invalid__": f"the orchestrator returned invalid state JSON: {exc}"
        }, stack
    if not isinstance(state, dict):
        return {
            "__devhost_invalid__": "the orchestrator returned JSON that is not an object"
        }, stack
    return state, stack


def _needs_orchestrator(event: Event) -> bool:
    return event["EventType"] not in (EventType.EXECUTION_SUSPENDED, EventType.EXECUTION_RESUMED)


def _plan(
    status: RuntimeStatus, inbox: Sequence[tuple[int, Event]], *, first_episode: bool
) -> _Plan:
    """Apply terminate/suspend/resume in arrival order; events after a suspend are held back."""
    run: list[Event] = []
    consumed: list[int] = []
    held: list[tuple[int, Event]] = []
    suspended = status is RuntimeStatus.SUSPENDED
    for row_id, event in inbox:
        kind = event["EventType"]
        if kind == EventType.EXECUTION_TERMINATED:
            return _Plan(run=[], consumed=[i for i, _ in inbox], status=status, terminate=event)
        if kind == EventType.EXECUTION_SUSPENDED:
            consumed.append(row_id)
            if not suspended:
                suspended = True
                run.append(event)
        elif kind == EventType.EXECUTION_RESUMED:
            consumed.append(row_id)
            if suspended:
                suspended = False
                run.append(event)
                for held_id, held_event in held:
                    consumed.append(held_id)
                    run.append(held_event)
                held.clear()
        elif suspended:
            held.append((row_id, event))
        else:
            consumed.append(row_id)
            run.append(event)
    if first_episode:
        # continue-as-new queues its ExecutionStarted behind events that were already waiting.
        run.sort(key=lambda e: e["EventType"] != EventType.EXECUTION_STARTED)
    if suspended:
        return _Plan(run=run, consumed=consumed, status=RuntimeStatus.SUSPENDED)
    return _Plan(run=run, consumed=consumed, status=RuntimeStatus.RUNNING if run else status)
