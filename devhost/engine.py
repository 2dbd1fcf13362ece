"""The durable engine of the local Functions host: :class:`Engine` implements ``TaskHub``.

Client operations (start, raise event, terminate, ...) validate, then write one transaction to
the store; orchestration episodes, activities, timers and entity batches are the worker's
(:mod:`devhost.worker`). Which operation is allowed in which runtime status is decided by one
table, :data:`ALLOWED_STATUSES`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from collections.abc import Callable, Sequence

from devhost import history as h
from devhost.clock import SystemClock
from devhost.durablehttp import DEFAULT_ASYNC_SLEEP_MS
from devhost.entities import client_signal, entity_instance_id
from devhost.executor import episode_instance
from devhost.hubstore import InstanceChanged, TaskHubStore
from devhost.rewind import plan_rewind
from devhost.taskhub import (
    Clock,
    DurableFunctions,
    EntityStatus,
    InstanceGone,
    InstanceNotFound,
    InstanceQuery,
    InstanceStatus,
    InvalidInstanceId,
    InvalidOperation,
    OverridableStates,
    RuntimeStatus,
)
from devhost.worker import Worker
from devhost.workitems import (
    InstanceRecord,
    NewInstance,
    decode_entity_page_token,
    encode_entity_page_token,
)

MAX_INSTANCE_ID_LENGTH = 256
_FORBIDDEN_ID_CHARS = set("/\\#?")

_LIVE = frozenset(
    {
        RuntimeStatus.PENDING,
        RuntimeStatus.RUNNING,
        RuntimeStatus.SUSPENDED,
        RuntimeStatus.CONTINUED_AS_NEW,
    }
)
ALLOWED_STATUSES: dict[str, frozenset[RuntimeStatus]] = {
    "raise_event": _LIVE,
    "terminate": _LIVE,
    "suspend": _LIVE,
    "resume": _LIVE,
}
"""Operation -> statuses it accepts; any other status answers InstanceGone (HTTP 410)."""


DEFAULT_CONCURRENCY = 10 * (os.cpu_count() or 1)
"""The extension's default for both ``maxConcurrent*Functions``: ten per core."""


class Engine:
    """Durable Functions for one task hub, persisted by a :class:`~devhost.store.TaskHubStore`.

    ``start()`` runs the work on background threads; without it, ``process_next()`` steps the
    engine one unit at a time (tests). All methods are thread-safe.
    """

    def __init__(
        self,
        store: TaskHubStore,
        functions: DurableFunctions,
        *,
        hub_name: str = "TestHubName",
        clock: Clock | None = None,
        max_concurrent_activities: int = DEFAULT_CONCURRENCY,
        max_concurrent_orchestrations: int = DEFAULT_CONCURRENCY,
        logger: logging.Logger | None = None,
        default_version: str = "",
        overridable_states: OverridableStates = OverridableStates.NON_RUNNING_STATES,
        http_async_sleep_ms: int = DEFAULT_ASYNC_SLEEP_MS,
    ) -> None:
        self.hub_name = hub_name
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.log = logger or logging.getLogger("devhost.engine")
        self.default_version = default_version
        self.overridable_states = overridable_states
        self.worker = Worker(
            store,
            functions,
            self.clock,
            max_concurrent_activities=max_concurrent_activities,
            max_concurrent_orchestrations=max_concurrent_orchestrations,
            logger=self.log,
            default_version=default_version,
            http_async_sleep_ms=http_async_sleep_ms,
        )
        subscribe = getattr(self.clock, "subscribe", None)
        if callable(subscribe):
            subscribe(self.worker.wake_timers)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def process_next(self) -> bool:
        return self.worker.process_next()

    # -- orchestrations ------------------------------------------------------------------------

    def start_orchestration(
        self,
        name: str,
        input_json: str | None,
        instance_id: str | None = None,
        version: str | None = None,
    ) -> str:
        if self.worker.index.orchestrator(name) is None:
            raise self.worker.index.unknown("orchestrator", name)
        instance_id = instance_id if instance_id is not None else uuid.uuid4().hex
        validate_instance_id(instance_id)
        if input_json is not None:
            json.loads(input_json)  # ValueError: the caller must pass JSON text
        if version is None:
            version = self.default_version
        now = self.clock.now()
        execution_id = uuid.uuid4().hex
        started = h.execution_started(
            now,
            instance_id=instance_id,
            execution_id=execution_id,
            name=name,
            version=version,
            input_json=input_json,
        )
        self.store.create_instance(
            NewInstance(
                instance_id=instance_id,
                execution_id=execution_id,
                name=name,
                version=version,
                input=input_json,
                started_event=h.dumps(started),
                created_time=now,
            ),
            self.overridable_states.protected,
        )
        self.worker.cache.drop(instance_id)
        self.worker.notify()
        return instance_id

    def get_status(
        self, instance_id: str, *, show_history: bool = False, show_input: bool = True
    ) -> InstanceStatus | None:
        record = self.store.get_instance(instance_id)
        if record is None:
            return None
        events = None
        if show_history:
            events = [
                h.with_is_played(h.loads(text), True)
                for text in self.store.load_history(instance_id)
            ]
        return _status(record, show_input=show_input, history=events)

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceStatus], str | None]:
        records, token = self.store.query_instances(query)
        return [_status(r, show_input=query.show_input) for r in records], token

    def raise_event(self, instance_id: str, event_name: str, input_json: str | None) -> None:
        event = h.event_raised(self.clock.now(), event_name, input_json)
        self._enqueue("raise_event", instance_id, event, control=False)

    def terminate(self, instance_id: str, reason: str | None) -> None:
        event = h.execution_terminated(self.clock.now(), reason)
        self._enqueue("terminate", instance_id, event, control=True)

    def suspend(self, instance_id: str, reason: str | None) -> None:
        event = h.execution_suspended(self.clock.now(), reason)
        self._enqueue("suspend", instance_id, event, control=True)

    def resume(self, instance_id: str, reason: str | None) -> None:
        event = h.execution_resumed(self.clock.now(), reason)
        self._enqueue("resume", instance_id, event, control=True)

    def rewind(self, instance_id: str, reason: str | None) -> None:
        """Undo the failures of a Failed instance and run it again (see ``plan_rewind``).

        Raises InstanceNotFound, InstanceGone (Completed/Terminated/Canceled) or
        InvalidOperation (not Failed).
        """
        record = self.store.get_instance(instance_id)
        if record is None:
            raise InstanceNotFound(instance_id)
        if record.status is not RuntimeStatus.FAILED:
            if record.status.is_terminal:
                raise InstanceGone(instance_id, record.status)
            raise InvalidOperation(
                "The rewind operation is only supported on failed orchestration instances; "
                f"'{instance_id}' is {record.status.value}."
            )
        self._rewind(record, reason)
        self.worker.notify()

    def _rewind(self, record: InstanceRecord, reason: str | None) -> None:
        def failed(child_id: str) -> bool:
            child = self.store.get_instance(child_id)
            return child is not None and child.status is RuntimeStatus.FAILED

        now = self.clock.now()
        stored = self.store.load_history(record.instance_id)
        plan = plan_rewind(self.worker.executor, episode_instance(record), stored, failed)
        trigger = h.generic_event(now, f"Rewound: {reason or ''}".rstrip())
        rerun = [(w.task_id, w.name, w.input) for w in plan.rerun]
        history = [h.dumps(event) for event in plan.history]
        try:
            self.store.rewrite_history(record, history, rerun, h.dumps(trigger), now)
        except InstanceChanged as changed:
            raise InvalidOperation(
                f"Instance '{record.instance_id}' changed during the rewind."
            ) from changed
        self.worker.cache.drop(record.instance_id)
        # Children after the parent: a child that finishes must find its parent running.
        for child_id in plan.children:
            child = self.store.get_instance(child_id)
            if child is not None and child.status is RuntimeStatus.FAILED:
                self._rewind(child, reason)

    def restart(self, instance_id: str, restart_with_new_instance_id: bool = True) -> str:
        """A new start of the same orchestrator and input (the extension's ``RestartAsync``: a
        plain start, so the new instance gets the defaultVersion and the start's override rule).
        """
        record = self.store.get_instance(instance_id)
        if record is None:
            raise InstanceNotFound(instance_id)
        new_id = uuid.uuid4().hex if restart_with_new_instance_id else instance_id
        return self.start_orchestration(record.name, record.input, new_id)

    def purge_instance(self, instance_id: str) -> int:
        deleted = self.store.purge_instance(instance_id)
        self.worker.cache.drop(instance_id)
        return deleted

    def purge_instances(
        self,
        created_from: dt.datetime,
        created_to: dt.datetime | None,
        statuses: Sequence[RuntimeStatus] = (),
    ) -> int:
        return self.store.purge_instances(
            created_from, created_to, [RuntimeStatus(s).value for s in statuses]
        )

    def _enqueue(self, operation: str, instance_id: str, event: h.Event, *, control: bool) -> None:
        self.store.enqueue(
            instance_id, h.dumps(event), control=control, check=_require(operation, instance_id)
        )
        self.worker.notify()

    # -- entities ------------------------------------------------------------------------------

    def signal_entity(self, name: str, key: str, operation: str, input_json: str | None) -> None:
        if self.worker.index.entity(name) is None:
            raise self.worker.index.unknown("entity", name)
        message = client_signal(operation, input_json)
        self.store.enqueue_entity_messages([(entity_instance_id(name, key), json.dumps(message))])
        self.worker.notify()

    def read_entity(self, name: str, key: str) -> EntityStatus | None:
        record = self.store.get_entity(entity_instance_id(name, key))
        if record is None:
            return None
        return EntityStatus(record.name, record.key, record.state, record.last_operation_time)

    def query_entities(
        self,
        name: str | None,
        *,
        fetch_state: bool = False,
        top: int = 100,
        continuation_token: str | None = None,
        last_operation_from: dt.datetime | None = None,
        last_operation_to: dt.datetime | None = None,
    ) -> tuple[list[EntityStatus], str | None]:
        top = max(1, top)
        after = decode_entity_page_token(continuation_token) if continuation_token else None
        records = self.store.query_entities(
            name, top + 1, after, last_operation_from, last_operation_to
        )
        token = encode_entity_page_token(records[top - 1].entity_id) if len(records) > top else None
        return [
            EntityStatus(r.name, r.key, r.state if fetch_state else None, r.last_operation_time)
            for r in records[:top]
        ], token


def validate_instance_id(instance_id: str) -> None:
    """The extension's instance-id rules; raises InvalidInstanceId naming the rule broken."""
    problem = None
    if not instance_id or not instance_id.strip():
        problem = "must not be empty"
    elif len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        problem = f"must be at most {MAX_INSTANCE_ID_LENGTH} characters (it has {len(instance_id)})"
    elif instance_id.startswith("@"):
        problem = "must not start with '@' (reserved for entities)"
    elif any(c in _FORBIDDEN_ID_CHARS or ord(c) < 0x20 or ord(c) == 0x7F for c in instance_id):
        problem = "must not contain '/', '\\', '#', '?' or control characters"
    if problem is not None:
        raise InvalidInstanceId(f"Instance ID '{instance_id[:300]}' {problem}.")


def _require(operation: str, instance_id: str) -> Callable[[InstanceRecord | None], None]:
    def check(record: InstanceRecord | None) -> None:
        if record is None:
            raise InstanceNotFound(instance_id)
        if record.status not in ALLOWED_STATUSES[operation]:
            raise InstanceGone(instance_id, record.status)

    return check


def _status(
    record: InstanceRecord, *, show_input: bool, history: list[h.Event] | None = None
) -> InstanceStatus:
    return InstanceStatus(
        instance_id=record.instance_id,
        name=record.name,
        runtime_status=record.status,
        created_time=record.created_time,
        last_updated_time=record.last_updated_time,
        input=record.input if show_input else None,
        output=record.output,
        custom_status=record.custom_status,
        parent_instance_id=record.parent_instance_id,
        execution_id=record.execution_id,
        history=history,
    )
