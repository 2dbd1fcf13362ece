"""DTFx's half of an out-of-proc episode: walk the SDK's actions against the history.

The Durable Functions extension does not take the SDK's action list at face value: it re-issues
every action, in order, against DTFx's orchestration context (reference §2.4). That walk
allocates the sequence ids, decides which actions are new (no scheduling event in history yet),
runs the retry loops (§2.5), matches external events and entity responses, and notices when the
orchestrator code no longer matches its history. :class:`ActionWalk` is that context. It is fed
one history event at a time, so an episode can replay a whole history or, when nothing the
orchestrator waits on can have changed, just absorb a batch of new completions
(:meth:`ActionWalk.can_absorb`).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import deque
from typing import Any

from devhost import history as h
from devhost.catalog import FunctionCatalog
from devhost.durablehttp import (
    DEFAULT_ASYNC_SLEEP_MS,
    HTTP_ACTIVITY,
    DurableHttpRequest,
    HttpRequestRefused,
)
from devhost.history import Event, EventType
from devhost.tasks import (
    CANCELED,
    FAILED,
    PENDING,
    SUCCEEDED,
    HttpPoll,
    Leaf,
    Node,
    RetryLoop,
    WhenAll,
    WhenAny,
)
from devhost.workitems import ActivityWork, EntityWork, SubOrchestrationWork, TimerWork, Work

MAX_ORCHESTRATION_ACTIONS = 100_000
"""The extension's default ``maxOrchestrationActions``."""

# Entity request ids must be the same on every replay of an episode; DTFx gets that from
# NewGuid() on the replay-safe clock, the devhost from the (instance, execution, sequence id).
_ENTITY_REQUEST_NAMESPACE = uuid.UUID("6f1f2d2c-1b0e-4cf3-9d0b-2a6a0d1d7e51")

_SCHEDULING_KIND = {
    EventType.TASK_SCHEDULED: "activity",
    EventType.TIMER_CREATED: "timer",
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "sub-orchestration",
    EventType.EVENT_SENT: "send",
}
_ACTION_NAMES = {
    "activity": "CallActivity",
    "timer": "CreateTimer",
    "sub-orchestration": "CallSubOrchestrator",
    "send": "SendEvent (entity call or signal)",
}


# --- the walk ---------------------------------------------------------------------------------


class ActionWalk:
    """DTFx's orchestration context for one execution, driven by the SDK's cumulative actions."""

    def __init__(
        self,
        *,
        instance_id: str,
        execution_id: str,
        orchestrator_name: str,
        actions: list[dict[str, Any]],
        catalog: FunctionCatalog,
        default_version: str = "",
        http_async_sleep: dt.timedelta = dt.timedelta(milliseconds=DEFAULT_ASYNC_SLEEP_MS),
    ) -> None:
        self.instance_id = instance_id
        self.execution_id = execution_id
        self.orchestrator_name = orchestrator_name
        self.actions = actions
        self.catalog = catalog
        # host.json defaultVersion: what a sub-orchestration started without a version gets.
        self.default_version = default_version
        self.http_async_sleep = http_async_sleep
        self.now = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        self.started = False
        self.error: str | None = None
        self.failure_seen = False
        self.continued_as_new = False
        self.continue_as_new_input: str | None = None
        self.last_node: Node | None = None
        self._pos = 0
        self._blocked: Node | None = None
        self._next_id = 0
        self._pending: dict[int, Leaf] = {}
        # Scheduled by this walk but not (yet) seen in history: id -> (kind, name, data).
        self._expected: dict[int, tuple[str, str, Any]] = {}
        self._entity_calls: dict[int, tuple[Leaf, str]] = {}
        self._waiters: dict[str, deque[Leaf]] = {}
        self._buffered: dict[str, deque[tuple[int, Event]]] = {}
        self._arrivals = 0
        self._canceled: set[int] = set()
        self._canceled_recorded: set[int] = set()
        self._failed: list[Leaf] = []

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        if self.error is not None:
            return
        kind = event["EventType"]
        if kind == EventType.ORCHESTRATOR_STARTED:
            stamp = h.parse_timestamp(event["Timestamp"])
            if stamp > self.now:
                self.now = stamp
        elif kind == EventType.EXECUTION_STARTED:
            if not self.started:
                self.started = True
                self._advance()
        elif kind in _SCHEDULING_KIND:
            self._match_scheduled(event)
        elif kind == EventType.TASK_COMPLETED:
            self._complete(event["TaskScheduledId"], SUCCEEDED, event.get("Result"))
        elif kind == EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED:
            self._complete(event["TaskScheduledId"], SUCCEEDED)
        elif kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
            self._complete(event["TaskScheduledId"], FAILED)
        elif kind == EventType.TIMER_FIRED:
            self._canceled_recorded.discard(event["TimerId"])
            self._complete(event["TimerId"], SUCCEEDED)
        elif kind == EventType.EVENT_RAISED:
            self._raised(event)

    @property
    def walk_complete(self) -> bool:
        """Every action was issued and none is still awaited (the extension's loop finished)."""
        return self.started and self._blocked is None and self._pos >= len(self.actions)

    def can_absorb(self, events: list[Event]) -> bool:
        """True when ``events`` only complete children of the still-running last action.

        Then the SDK would replay to the same ``yield`` and return the same state, so the host may
        skip invoking it. Sound only while nothing ever failed in this execution: a failure lets
        the SDK's task_all resume user code early (fail-fast), which the walk cannot see.
        """
        last = self.last_node
        if (
            self.error is not None
            or self.failure_seen
            or self.continued_as_new
            or last is None
            or self._blocked is not last
            or self._pos != len(self.actions)
        ):
            return False
        seen: set[int] = set()
        claimed: dict[str, int] = {}
        for event in events:
            kind = event["EventType"]
            if kind == EventType.EVENT_RAISED:
                name = str(event.get("Name"))
                queue = self._waiters.get(name)
                taken = claimed.get(name, 0)
                if queue is None or len(queue) <= taken:
                    return False
                leaf = queue[taken]
                claimed[name] = taken + 1
                if leaf.top is not last:
                    return False
                if leaf.kind == "entity" and _is_entity_error(event.get("Input")):
                    return False
                continue
            if kind in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
                task_id = event["TaskScheduledId"]
            elif kind == EventType.TIMER_FIRED:
                task_id = event["TimerId"]
            else:
                return False
            pending = self._pending.get(task_id)
            if task_id in seen or pending is None or pending.top is not last:
                return False
            seen.add(task_id)
        return True

    def take_new(self, now: dt.datetime) -> tuple[list[Event], list[Work]]:
        """Scheduling events (in id order) and work for what this episode issued first."""
        events: list[Event] = []
        work: list[Work] = []
        for task_id in sorted(self._expected):
            kind, name, data = self._expected[task_id]
            if kind == "activity":
                events.append(h.task_scheduled(now, task_id, name, data))
                work.append(ActivityWork(task_id, name, data))
            elif kind == "timer":
                fire_at, canceled = data
                events.append(h.timer_created(now, task_id, fire_at))
                if not canceled:
                    work.append(TimerWork(task_id, fire_at))
            elif kind == "sub-orchestration":
                instance_id, input_json, version = data
                events.append(
                    h.sub_orchestration_created(
                        now, task_id, name, instance_id, input_json, version
                    )
                )
                work.append(SubOrchestrationWork(task_id, name, instance_id, input_json, version))
            else:
                entity_id, message = data
                events.append(h.event_sent(now, task_id, entity_id, name, json.dumps(message)))
                work.append(EntityWork(entity_id, message))
        self._expected.clear()
        return events, work

    def rewind_targets(self) -> tuple[set[int], set[int]]:
        """Sequence ids whose failure to undo, and ids of timers that only followed those failures.

        A failed attempt that a retry loop went on to retry stays; the last attempt of a loop
        that gave up is undone together with the loop's closing timer.
        """
        failures: set[int] = set()
        timers: set[int] = set()
        for leaf in self._failed:
            loop = leaf.parent
            if not isinstance(loop, RetryLoop):
                failures.add(leaf.task_id)
            elif loop.state == FAILED and leaf.task_id == loop.last_attempt:
                failures.add(leaf.task_id)
                if loop.final_timer is not None:
                    timers.add(loop.final_timer)
        return failures, timers

    def canceled_timers(self) -> list[int]:
        """Timers created in an earlier episode that the orchestrator has since cancelled."""
        return sorted(self._canceled_recorded)

    def carried_over_events(self) -> list[Event]:
        """External events received but never awaited, oldest first (kept by continue-as-new)."""
        items = [item for queue in self._buffered.values() for item in queue]
        return [event for _, event in sorted(items, key=lambda item: item[0])]

    # -- walking ---------------------------------------------------------------------------

    def _advance(self) -> None:
        while self._blocked is None and self._pos < len(self.actions) and self.error is None:
            action = self.actions[self._pos]
            self._pos += 1
            node = self._invoke(action, None)
            self.last_node = node
            if node.state == PENDING:
                self._blocked = node

    def finish(self, node: Node, state: int) -> None:
        if node.state != PENDING:
            return
        node.state = state
        if node.parent is not None:
            node.parent.child_done(self, node)
        elif node is self._blocked:
            self._blocked = None
            self._advance()

    def _invoke(self, action: dict[str, Any], parent: Node | None) -> Node:
        kind = action.get("actionType")
        if kind == 0:
            return self._activity(action.get("functionName") or "", action.get("input"), parent)
        if kind == 1:
            return self._retry(action, "activity", parent)
        if kind == 2:
            return self._sub_orchestration(action, parent)
        if kind == 3:
            return self._retry(action, "sub-orchestration", parent)
        if kind == 4:
            self.continued_as_new = True
            self.continue_as_new_input = action.get("input")
            return self._done(parent)
        if kind == 5:
            fire_at = h.parse_timestamp(action["fireAt"])
            return self.new_timer(fire_at, parent, canceled=bool(action.get("isCanceled")))
        if kind == 6:
            return self._wait_for_event(action.get("externalEventName") or "", parent)
        if kind in (7, 9):
            return self._entity_message(action, parent, signal=kind == 9)
        if kind == 10:
            return self._scheduled_signal(action, parent)
        if kind == 8:
            return self._http(action, parent)
        if kind in (11, 12):
            children = action.get("compoundActions") or []
            node: Node = WhenAny(parent) if kind == 11 else WhenAll(parent, len(children))
            if not children:
                self.finish(node, SUCCEEDED)
            for child in children:
                self._invoke(child, node)
            return node
        unsupported = {10: "ScheduledSignalEntity"}
        name = unsupported.get(kind, "unknown") if isinstance(kind, int) else "unknown"
        self._fail_call(
            f"The devhost engine does not support the {name} action (actionType {kind})."
        )
        return Leaf(parent, "unsupported")

    def _new_id(self) -> int:
        task_id = self._next_id
        self._next_id += 1
        if self._next_id > MAX_ORCHESTRATION_ACTIONS:
            self._fail_call(
                f"Maximum amount of orchestration actions ({MAX_ORCHESTRATION_ACTIONS:,}) has been "
                "reached. Split the work into sub-orchestrations or use continue-as-new."
            )
        return task_id

    def _done(self, parent: Node | None) -> Node:
        leaf = Leaf(parent, "done")
        self.finish(leaf, SUCCEEDED)
        return leaf

    def _activity(self, name: str, input_json: str | None, parent: Node | None) -> Leaf:
        missing = self.catalog.missing("activity", name)
        if missing:
            self._fail_call(missing)
        task_id = self._new_id()
        leaf = Leaf(parent, "activity", task_id)
        self._pending[task_id] = leaf
        self._expected[task_id] = ("activity", name, input_json)
        return leaf

    def _sub_orchestration(self, action: dict[str, Any], parent: Node | None) -> Leaf:
        name = action.get("functionName") or ""
        missing = self.catalog.missing("orchestrator", name)
        if missing:
            self._fail_call(missing)
        task_id = self._new_id()
        child_id = action.get("instanceId") or f"{self.execution_id}:{task_id}"
        if child_id == self.instance_id or child_id.startswith("@"):
            self._fail_call(
                f"Invalid sub-orchestration instance ID '{child_id}': it must differ from the "
                "parent's instance ID and must not start with '@'."
            )
        raw_input = action.get("input")
        input_json = json.dumps(raw_input) if raw_input is not None else None
        # The extension starts the child with the version the action names, else with the host's
        # defaultVersion of the moment: a child does not inherit its parent's version.
        version = action.get("version")
        if not isinstance(version, str):
            version = self.default_version
        leaf = Leaf(parent, "sub-orchestration", task_id)
        self._pending[task_id] = leaf
        self._expected[task_id] = ("sub-orchestration", name, (child_id, input_json, version))
        return leaf

    def _retry(self, action: dict[str, Any], kind: str, parent: Node | None) -> Node:
        node = RetryLoop(parent, kind, action, self.now)
        self.attempt(node)
        return node

    def attempt(self, node: RetryLoop) -> None:
        if node.kind == "activity":
            action = node.action
            leaf = self._activity(action.get("functionName") or "", action.get("input"), node)
        else:
            leaf = self._sub_orchestration(node.action, node)
        node.last_attempt = leaf.task_id

    def new_timer(self, fire_at: dt.datetime, parent: Node | None, canceled: bool = False) -> Leaf:
        task_id = self._new_id()
        leaf = Leaf(parent, "timer", task_id)
        self._expected[task_id] = ("timer", "", (fire_at, canceled))
        if canceled:
            # The extension cancels the timer's token: the awaited task ends at once.
            self._canceled.add(task_id)
            self.finish(leaf, CANCELED)
        else:
            self._pending[task_id] = leaf
        return leaf

    def _http(self, action: dict[str, Any], parent: Node | None) -> Node:
        """CallHttp: the built-in HTTP activity, polled only when the request asks for it."""
        try:
            request = DurableHttpRequest.from_json(action.get("httpRequest"))
        except HttpRequestRefused as refused:
            self._fail_call(str(refused))
            return Leaf(parent, "unsupported")
        if not request.asynchronous_pattern_enabled:
            return self.http_request(request, parent)
        node = HttpPoll(parent, request)
        self.http_request(request, node)
        return node

    def http_request(self, request: DurableHttpRequest, parent: Node | None) -> Leaf:
        task_id = self._new_id()
        leaf = Leaf(parent, "http", task_id)
        self._pending[task_id] = leaf
        self._expected[task_id] = ("activity", HTTP_ACTIVITY, request.activity_input())
        return leaf

    def _wait_for_event(self, name: str, parent: Node | None) -> Node:
        leaf = Leaf(parent, "event")
        buffered = self._buffered.get(name)
        if buffered:
            buffered.popleft()
            if not buffered:
                del self._buffered[name]
            self.finish(leaf, SUCCEEDED)
        else:
            self._waiters.setdefault(name, deque()).append(leaf)
        return leaf

    def _entity_message(self, action: dict[str, Any], parent: Node | None, signal: bool) -> Node:
        entity_id = action.get("instanceId") or ""
        operation = action.get("operation") or ""
        parts = entity_id.split("@", 2)
        entity_name = parts[1] if len(parts) == 3 else entity_id
        missing = self.catalog.missing("entity", entity_name)
        if missing:
            self._fail_call(missing)
        task_id = self._new_id()
        request_id = str(
            uuid.uuid5(
                _ENTITY_REQUEST_NAMESPACE, f"{self.instance_id}\n{self.execution_id}\n{task_id}"
            )
        )
        raw_input = action.get("input")
        message: dict[str, Any] = {"op": operation}
        if signal:
            message["signal"] = True
        if raw_input is not None:
            # The extension hands the action's JSON text to the entity as a JSON string (§6.1).
            message["input"] = json.dumps(raw_input)
        message["id"] = request_id
        if not signal:
            message["parent"] = self.instance_id
            message["parentExecution"] = self.execution_id
        self._expected[task_id] = ("send", operation, (entity_id, message))
        if signal:
            return self._done(parent)
        leaf = Leaf(parent, "entity", task_id)
        self._entity_calls[task_id] = (leaf, request_id)
        self._waiters.setdefault(request_id, deque()).append(leaf)
        return leaf

    def _scheduled_signal(self, action: dict[str, Any], parent: Node | None) -> Node:
        # The Python SDK 1.7 cannot emit it (its signal_entity takes no time): refuse it loudly.
        self._fail_call(
            f"The ScheduledSignalEntity action (actionType 10: '{action.get('operation')}' on "
            f"'{action.get('instanceId')}' at {action.get('fireAt')}) is not supported by the "
            "devhost engine, and azure-functions-durable 1.7 never emits it. Call "
            "context.signal_entity(), after a context.create_timer() if the signal must wait."
        )
        return Leaf(parent, "unsupported")

    # -- history events ----------------------------------------------------------------------

    def _match_scheduled(self, event: Event) -> None:
        task_id = event["EventId"]
        recorded_kind = _SCHEDULING_KIND[event["EventType"]]
        recorded = _describe_recorded(event, recorded_kind)
        expected = self._expected.pop(task_id, None)
        if expected is None:
            self._fail_nondeterministic(
                f"a previous execution {recorded} with sequence id {task_id}, but the replay has "
                "not (yet) scheduled anything with that sequence id"
            )
            return
        kind, name, data = expected
        if kind != recorded_kind:
            self._fail_nondeterministic(
                f"a previous execution {recorded} with sequence id {task_id}, but the replay "
                f"produced a {_ACTION_NAMES[kind]} action{_named(name)} with that sequence id"
            )
            return
        recorded_name = event.get("Name") or ""
        if kind != "timer" and recorded_name.lower() != name.lower():
            self._fail_nondeterministic(
                f"a previous execution {recorded} with sequence id {task_id}, but the replay "
                f"produced {_ACTION_NAMES[kind]} '{name}' with that sequence id"
            )
            return
        if kind == "timer" and task_id in self._canceled:
            self._canceled_recorded.add(task_id)
        if kind == "send" and task_id in self._entity_calls:
            self._rekey_entity_call(task_id, event.get("Input"))

    def _rekey_entity_call(self, task_id: int, input_json: str | None) -> None:
        """Adopt the request id recorded in history (another host may have generated it)."""
        leaf, request_id = self._entity_calls[task_id]
        try:
            recorded_id = json.loads(input_json or "{}").get("id")
        except (ValueError, AttributeError):
            return
        if not isinstance(recorded_id, str) or recorded_id == request_id:
            return
        queue = self._waiters.get(request_id)
        if queue is not None and leaf in queue:
            queue.remove(leaf)
            if not queue:
                del self._waiters[request_id]
            self._waiters.setdefault(recorded_id, deque()).append(leaf)
        self._entity_calls[task_id] = (leaf, recorded_id)

    def _complete(self, task_id: int, state: int, result: str | None = None) -> None:
        leaf = self._pending.pop(task_id, None)
        if leaf is None:
            return  # DTFx logs "duplicate event" and ignores it
        if leaf.kind == "http":
            leaf.result = result
        if state == FAILED:
            self.failure_seen = True
            self._failed.append(leaf)
        self.finish(leaf, state)

    def _raised(self, event: Event) -> None:
        name = event.get("Name") or ""
        queue = self._waiters.get(name)
        if not queue:
            self._arrivals += 1
            self._buffered.setdefault(name, deque()).append((self._arrivals, event))
            return
        leaf = queue.popleft()
        if not queue:
            del self._waiters[name]
        state = SUCCEEDED
        if leaf.kind == "entity" and _is_entity_error(event.get("Input")):
            state = FAILED
            self.failure_seen = True
        self.finish(leaf, state)

    # -- failures ------------------------------------------------------------------------------

    def _fail_call(self, message: str) -> None:
        if self.error is None:
            self.error = f"Orchestrator function '{self.orchestrator_name}' failed: {message}"

    def _fail_nondeterministic(self, detail: str) -> None:
        if self.error is None:
            self.error = (
                f"Non-Deterministic workflow detected: {detail}. Was the orchestrator code of "
                f"'{self.orchestrator_name}' changed after instance '{self.instance_id}' started? "
                "Restart the instance to run it with the current code."
            )


def _describe_recorded(event: Event, kind: str) -> str:
    if kind == "activity":
        return f"scheduled activity '{event.get('Name')}' (TaskScheduled)"
    if kind == "timer":
        return "created a timer (TimerCreated)"
    if kind == "sub-orchestration":
        return (
            f"started sub-orchestration '{event.get('Name')}' with instance ID "
            f"'{event.get('InstanceId')}' (SubOrchestrationInstanceCreated)"
        )
    return f"sent operation '{event.get('Name')}' to '{event.get('InstanceId')}' (EventSent)"


def _named(name: str) -> str:
    return f" '{name}'" if name else ""


def _is_entity_error(input_json: Any) -> bool:
    """The SDK treats an entity response holding ``exceptionType`` as a failure (§6.3)."""
    try:
        response = json.loads(input_json) if isinstance(input_json, str) else None
    except ValueError:
        return False
    return isinstance(response, dict) and "exceptionType" in response
