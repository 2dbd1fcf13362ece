"""The task hub store's contract: what the engine may ask of the persistence of one task hub.

:class:`TaskHubStore` is implemented by :class:`devhost.store.SqliteTaskHubStore` (a SQLite file,
or ``":memory:"``). Every method is one transaction and thread-safe, so a process killed at any
point leaves the state before or after it, never between. Payloads are JSON text as the engine
wrote them (:mod:`devhost.workitems` holds the records exchanged).

Work is rows: an instance is runnable while its inbox holds events, an activity is owed while
its row exists, a timer while its row exists. Which of those rows this process is running is the
worker's memory, never the store's: after a crash everything that was in flight runs again.

Errors: the named ones below, :class:`devhost.taskhub.InstanceExists`, and whatever the database
raises (a full disk, a file damaged while in use), which propagate unchanged. A file damaged
before the store opens it is :class:`TaskHubDamaged`, raised by the constructor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from devhost.taskhub import InstanceQuery, RuntimeStatus, TaskHubError
from devhost.workitems import (
    ActivityRow,
    Delivery,
    EntityRecord,
    EpisodeCommit,
    InboxRow,
    InstanceRecord,
    NewInstance,
    TimerRow,
)


class InstanceChanged(TaskHubError):
    """The instance is not the execution (or history length, or status) the caller read: another
    episode, a restart, a purge or a terminate got there first. Nothing was written; read again."""

    def __init__(self, instance_id: str, expected: str) -> None:
        super().__init__(f"instance '{instance_id}' changed since it was read: {expected}")
        self.instance_id = instance_id


class TaskHubDamaged(TaskHubError):
    """The task hub file ``path`` is not a sound SQLite database (truncated, overwritten, not
    SQLite at all); ``reason`` is what SQLite said. Raised when the store opens it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"the task hub {path} is damaged ({reason}); restore it from a backup, or move it "
            "(with its -wal and -shm files) away to start with an empty task hub, which forgets "
            "every orchestration it held"
        )
        self.path = path
        self.reason = reason


class TaskHubStore(Protocol):
    """Persistence of one task hub (see the module docstring for the rules every method keeps)."""

    # -- instances ---------------------------------------------------------------------------

    def create_instance(self, new: NewInstance, protected: Collection[RuntimeStatus] = ...) -> None:
        """Create the instance with ``new.started_event`` as its first inbox row, replacing one
        with the same id (its history, inbox and pending work dropped) unless that one's status
        is in ``protected`` (default: every live status). Raises InstanceExists then."""
        ...

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance's record, or None when there is no such instance."""
        ...

    def load_history(self, instance_id: str) -> list[str]:
        """The instance's history events in order (empty when it has none or does not exist)."""
        ...

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]:
        """A page of instances in creation order, and the continuation token of the next page
        (None on the last). Raises ValueError for a token it did not issue."""
        ...

    def enqueue(
        self,
        instance_id: str,
        event: str,
        *,
        control: bool,
        check: Callable[[InstanceRecord | None], None],
    ) -> None:
        """Append ``event`` to the instance's inbox once ``check`` accepted the instance read in
        the same transaction (``check`` raises to refuse, and nothing is written). A control
        event (terminate, suspend, resume) wakes even a suspended instance."""
        ...

    def purge_instance(self, instance_id: str) -> int:
        """Delete the instance and everything of it; the number of instances deleted (0 or 1)."""
        ...

    def purge_instances(
        self, created_from: dt.datetime, created_to: dt.datetime | None, statuses: Sequence[str]
    ) -> int:
        """Delete the instances created in the range with one of ``statuses`` (any when empty);
        the number deleted."""
        ...

    # -- episodes ----------------------------------------------------------------------------

    def ready_instances(self, limit: int, exclude: set[str]) -> list[str]:
        """Up to ``limit`` runnable instance ids not in ``exclude``, least recently updated
        first."""
        ...

    def read_inbox(self, instance_id: str) -> tuple[InstanceRecord | None, list[InboxRow]]:
        """The instance's record and its pending inbox rows, in arrival order, read together."""
        ...

    def commit_episode(self, commit: EpisodeCommit) -> None:
        """Apply one episode: consume its inbox rows, append its history, schedule its work
        (activities, timers, children, entity messages, deliveries to other instances), start
        its new execution when it continued as new, and set status, output and custom status.

        Raises InstanceChanged, having written nothing, when the instance is no longer at the
        execution and history length the episode started from."""
        ...

    def rewrite_history(
        self,
        record: InstanceRecord,
        history: Sequence[str],
        rerun: Sequence[tuple[int, str, str | None]],
        trigger: str,
        now: dt.datetime,
    ) -> None:
        """Rewind a Failed instance: replace its history, queue the ``rerun`` activities
        (task id, name, input) again and wake it with ``trigger``.

        Raises InstanceChanged, having written nothing, when the instance is no longer the
        Failed execution of ``record``."""
        ...

    # -- activities and timers -----------------------------------------------------------------

    def next_activities(self, after_id: int, limit: int) -> list[ActivityRow]:
        """Up to ``limit`` owed activities with a row id above ``after_id``, oldest first."""
        ...

    def deliver(self, deliveries: Sequence[Delivery]) -> None:
        """Settle each delivery's activity or timer row and put its event in the instance's
        inbox. A row settles once, however often it is reported; an event for an instance that
        ended, or for another execution of it, is dropped with its row."""
        ...

    def due_timers(self, now: dt.datetime, limit: int) -> list[TimerRow]:
        """Up to ``limit`` timers due at ``now``, earliest first."""
        ...

    def next_timer_at(self) -> dt.datetime | None:
        """When the earliest pending timer is due, or None when there is none."""
        ...

    # -- entities ------------------------------------------------------------------------------

    def enqueue_entity_messages(self, messages: Sequence[tuple[str, str]]) -> None:
        """Append (entity id, request message) pairs to the entities' inboxes."""
        ...

    def ready_entities(self, limit: int, exclude: set[str]) -> list[str]:
        """Up to ``limit`` entity ids with pending messages not in ``exclude``, oldest first."""
        ...

    def read_entity_inbox(
        self, entity_id: str, limit: int
    ) -> tuple[EntityRecord | None, list[tuple[int, str]]]:
        """The entity's record and up to ``limit`` of its pending (row id, message) pairs."""
        ...

    def commit_entity_batch(
        self,
        entity_id: str,
        consumed: list[int],
        exists: bool,
        state: str | None,
        now: dt.datetime,
        deliveries: Sequence[Delivery],
    ) -> None:
        """Apply one batch of entity operations: consume its messages, store the state (or delete
        the entity when it no longer exists) and deliver the responses to waiting callers."""
        ...

    def get_entity(self, entity_id: str) -> EntityRecord | None:
        """The entity's record, or None when it does not exist."""
        ...

    def query_entities(
        self,
        name: str | None,
        top: int,
        after_id: str | None,
        last_from: dt.datetime | None,
        last_to: dt.datetime | None,
    ) -> list[EntityRecord]:
        """Up to ``top`` entities ordered by entity id (``@name@key``), after ``after_id``, last
        operated on within the range; all names when ``name`` is empty or None."""
        ...

    def close(self) -> None:
        """Release the database; the store must not be used afterwards."""
        ...
