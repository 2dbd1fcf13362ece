"""The task hub's work items and records, and the store seam that persists them.

Rows of the store (:class:`InstanceRecord`, :class:`InboxRow`, :class:`ActivityRow`,
:class:`TimerRow`, :class:`EntityRecord`), what an episode or a delivery writes
(:class:`EpisodeCommit`, :class:`Delivery`, :class:`NewInstance`), the work an action walk
asks for (:data:`Work`) and :class:`TaskHubStore`, implemented by
:class:`devhost.store.SqliteTaskHubStore`. Payloads are JSON text throughout, as stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from devhost.history import parse_timestamp
from devhost.taskhub import InstanceQuery, RuntimeStatus

# --- store records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceRecord:
    instance_id: str
    execution_id: str
    name: str
    version: str | None
    status: RuntimeStatus
    input: str | None
    output: str | None
    custom_status: str | None
    parent_instance_id: str | None
    parent_execution_id: str | None
    parent_task_id: int | None
    created_time: dt.datetime
    last_updated_time: dt.datetime
    history_count: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> InstanceRecord:
        """From the store's columns, in field order (status and times as stored text)."""
        return cls(
            instance_id=row[0],
            execution_id=row[1],
            name=row[2],
            version=row[3],
            status=RuntimeStatus(row[4]),
            input=row[5],
            output=row[6],
            custom_status=row[7],
            parent_instance_id=row[8],
            parent_execution_id=row[9],
            parent_task_id=row[10],
            created_time=parse_timestamp(row[11]),
            last_updated_time=parse_timestamp(row[12]),
            history_count=row[13],
        )


@dataclass(frozen=True)
class NewInstance:
    """An instance to create, with its ExecutionStarted event (JSON text) as first inbox row."""

    instance_id: str
    execution_id: str
    name: str
    version: str | None
    input: str | None
    started_event: str
    created_time: dt.datetime
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    conflict_event: str | None = None  # sub-orchestrations: told to the parent if the id is taken


@dataclass(frozen=True)
class InboxRow:
    id: int
    execution_id: str | None
    control: bool
    event: str


@dataclass(frozen=True)
class ActivityRow:
    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True)
class TimerRow:
    id: int
    instance_id: str
    execution_id: str
    timer_id: int
    fire_at: str


@dataclass(frozen=True)
class Delivery:
    """An event for an instance's inbox, dropped if the instance ended or moved on to another
    execution (``execution_id`` None: any execution). Optionally settles an activity or timer row;
    if that row is gone (terminate, purge) the event is dropped too."""

    instance_id: str
    execution_id: str | None
    event: str
    activity_row: int | None = None
    timer_row: int | None = None


@dataclass
class EpisodeCommit:
    instance_id: str
    execution_id: str  # optimistic check: the episode ran against this execution ...
    history_count: int  # ... and this many history rows
    consumed: list[int]
    appended: list[str]
    status: RuntimeStatus
    now: dt.datetime
    output: str | None = None
    set_output: bool = False
    custom_status: str | None = None
    set_custom_status: bool = False
    activities: list[tuple[int, str, str | None]] = field(default_factory=list)
    timers: list[tuple[int, str]] = field(default_factory=list)
    cancel_timers: list[int] = field(default_factory=list)
    children: list[NewInstance] = field(default_factory=list)
    entity_messages: list[tuple[str, str]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    new_execution: tuple[str, str | None, list[str]] | None = None  # id, input, inbox events


@dataclass(frozen=True)
class EntityRecord:
    """The stored state of one entity (``state`` is the SDK's entityState JSON text)."""

    entity_id: str
    name: str
    key: str
    state: str | None
    last_operation_time: dt.datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> EntityRecord:
        return cls(row[0], row[1], row[2], row[3], parse_timestamp(row[4]))


# --- work an action walk asks for ----------------------------------------------------------


@dataclass(frozen=True)
class ActivityWork:
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True)
class TimerWork:
    timer_id: int
    fire_at: dt.datetime


@dataclass(frozen=True)
class SubOrchestrationWork:
    task_id: int
    name: str
    instance_id: str
    input: str | None  # ExecutionStarted.Input of the child
    version: str | None


@dataclass(frozen=True)
class EntityWork:
    entity_id: str  # "@name@key"
    message: dict[str, Any]  # the RequestMessage (reference §6.3)


Work = ActivityWork | TimerWork | SubOrchestrationWork | EntityWork


# --- the store seam -------------------------------------------------------------------------


class TaskHubStore(Protocol):
    """Persistence of one task hub. Every method is one transaction and thread-safe.

    Payloads are JSON text. Work is rows: an instance is runnable while its inbox holds events
    (:meth:`ready_instances`), an activity is owed while its row exists (:meth:`next_activities`),
    a timer while its row exists (:meth:`due_timers`); :meth:`deliver` settles such a row and
    hands its event to the instance in the same transaction. Storage errors propagate.
    """

    def create_instance(self, new: NewInstance, protected: Collection[RuntimeStatus] = ...) -> None:
        """Create the instance, replacing (history, inbox and pending work dropped) one with the
        same id unless its status is in ``protected`` (default: every live status), when it
        raises InstanceExists."""
        ...

    def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    def load_history(self, instance_id: str) -> list[str]: ...

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]: ...

    def enqueue(
        self,
        instance_id: str,
        event: str,
        *,
        control: bool,
        check: Callable[[InstanceRecord | None], None],
    ) -> None:
        """Append to the inbox after ``check`` accepted the instance (it raises to refuse)."""
        ...

    def purge_instance(self, instance_id: str) -> int: ...

    def purge_instances(
        self, created_from: dt.datetime, created_to: dt.datetime | None, statuses: Sequence[str]
    ) -> int: ...

    def ready_instances(self, limit: int, exclude: set[str]) -> list[str]: ...

    def read_inbox(self, instance_id: str) -> tuple[InstanceRecord | None, list[InboxRow]]: ...

    def commit_episode(self, commit: EpisodeCommit) -> bool:
        """Apply an episode; False (and nothing changed) if the instance moved on meanwhile."""
        ...

    def rewrite_history(
        self,
        record: InstanceRecord,
        history: Sequence[str],
        rerun: Sequence[tuple[int, str, str | None]],
        trigger: str,
        now: dt.datetime,
    ) -> bool:
        """Rewind a Failed instance; False if it is no longer that Failed execution."""
        ...

    def next_activities(self, after_id: int, limit: int) -> list[ActivityRow]: ...

    def deliver(self, deliveries: Sequence[Delivery]) -> None: ...

    def due_timers(self, now: dt.datetime, limit: int) -> list[TimerRow]: ...

    def next_timer_at(self) -> dt.datetime | None: ...

    def enqueue_entity_messages(self, messages: Sequence[tuple[str, str]]) -> None: ...

    def ready_entities(self, limit: int, exclude: set[str]) -> list[str]: ...

    def read_entity_inbox(
        self, entity_id: str, limit: int
    ) -> tuple[EntityRecord | None, list[tuple[int, str]]]: ...

    def commit_entity_batch(
        self,
        entity_id: str,
        consumed: list[int],
        exists: bool,
        state: str | None,
        now: dt.datetime,
        deliveries: Sequence[Delivery],
    ) -> None: ...

    def get_entity(self, entity_id: str) -> EntityRecord | None: ...

    def query_entities(
        self,
        name: str | None,
        top: int,
        after_id: str | None,
        last_from: dt.datetime | None,
        last_to: dt.datetime | None,
    ) -> list[EntityRecord]:
        """Up to ``top`` entities ordered by entity id (``@name@key``), after ``after_id``; all
        names when ``name`` is empty or None."""
        ...

    def close(self) -> None: ...


def encode_entity_page_token(entity_id: str) -> str:
    """An opaque, header-safe continuation token for entity queries (keyset: entity id)."""
    return base64.urlsafe_b64encode(entity_id.encode()).decode()


def decode_entity_page_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid continuation token {token!r}") from exc


def encode_page_token(created: str, instance_id: str) -> str:
    """An opaque continuation token for instance queries (keyset: creation time, id)."""
    return base64.urlsafe_b64encode(json.dumps([created, instance_id]).encode()).decode()


def decode_page_token(token: str) -> tuple[str, str]:
    try:
        created, instance_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(created), str(instance_id)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid continuation token {token!r}") from exc
