"""The task hub's work items and records, as the store exchanges them.

Rows of the store (:class:`InstanceRecord`, :class:`InboxRow`, :class:`ActivityRow`,
:class:`TimerRow`, :class:`EntityRecord`), what an episode or a delivery writes
(:class:`EpisodeCommit`, :class:`Delivery`, :class:`NewInstance`) and the work an action walk
asks for (:data:`Work`). The store's contract is :class:`devhost.hubstore.TaskHubStore`.
Payloads are JSON text throughout, as stored. Records are built from rows by column name.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from devhost.history import parse_timestamp
from devhost.taskhub import RuntimeStatus

# --- store records -----------------------------------------------------------------------------


class ColumnRow(Protocol):
    """A database row read by column name (``sqlite3.Row``)."""

    def __getitem__(self, column: str, /) -> Any: ...


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
    def from_row(cls, row: ColumnRow) -> InstanceRecord:
        """From a row of the store's ``instances`` table (status and times as stored text)."""
        return cls(
            instance_id=row["instance_id"],
            execution_id=row["execution_id"],
            name=row["name"],
            version=row["version"],
            status=RuntimeStatus(row["status"]),
            input=row["input"],
            output=row["output"],
            custom_status=row["custom_status"],
            parent_instance_id=row["parent_instance_id"],
            parent_execution_id=row["parent_execution_id"],
            parent_task_id=row["parent_task_id"],
            created_time=parse_timestamp(row["created_time"]),
            last_updated_time=parse_timestamp(row["last_updated_time"]),
            history_count=row["history_count"],
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
    def from_row(cls, row: ColumnRow) -> EntityRecord:
        """From a row of the store's ``entities`` table."""
        return cls(
            entity_id=row["entity_id"],
            name=row["name"],
            key=row["key"],
            state=row["state"],
            last_operation_time=parse_timestamp(row["last_operation_time"]),
        )


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
