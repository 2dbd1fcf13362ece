"""The seam between the durable engine and what drives it (HTTP API, client binding, CLI).

The engine (``devhost.engine``) implements :class:`TaskHub`; the HTTP layer (``devhost.http``) and
the app loader only talk to this protocol. Payloads cross this seam as JSON *text* exactly as the
Durable Functions extension stores them (see shared/reference/durable-protocol.md §1.5, §5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol


class RuntimeStatus(str, Enum):
    """DTFx ``OrchestrationStatus``; the integer is what history events carry."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    PENDING = "Pending"
    SUSPENDED = "Suspended"

    @property
    def code(self) -> int:
        return _STATUS_CODES[self]

    @property
    def is_terminal(self) -> bool:
        return self in (
            RuntimeStatus.COMPLETED,
            RuntimeStatus.FAILED,
            RuntimeStatus.CANCELED,
            RuntimeStatus.TERMINATED,
        )


_STATUS_CODES = {
    RuntimeStatus.RUNNING: 0,
    RuntimeStatus.COMPLETED: 1,
    RuntimeStatus.CONTINUED_AS_NEW: 2,
    RuntimeStatus.FAILED: 3,
    RuntimeStatus.CANCELED: 4,
    RuntimeStatus.TERMINATED: 5,
    RuntimeStatus.PENDING: 6,
    RuntimeStatus.SUSPENDED: 7,
}


class OverridableStates(str, Enum):
    """host.json ``overridableExistingInstanceStates``: which existing instance a start with the
    same id may replace. The replaced instance's history and pending work are dropped, and a new
    execution starts, as DTFx does when it is not told to deduplicate."""

    NON_RUNNING_STATES = "NonRunningStates"
    ANY_STATE = "AnyState"

    @property
    def protected(self) -> frozenset[RuntimeStatus]:
        """The statuses a start refuses to replace (DTFx's "dedupe statuses")."""
        if self is OverridableStates.ANY_STATE:
            return frozenset()
        return frozenset(
            {
                RuntimeStatus.RUNNING,
                RuntimeStatus.PENDING,
                RuntimeStatus.SUSPENDED,
                RuntimeStatus.CONTINUED_AS_NEW,
            }
        )


@dataclass(frozen=True)
class InstanceStatus:
    """One orchestration instance as the status API shows it (before JSON rendering).

    ``input``, ``output`` and ``custom_status`` are the stored JSON *text* (or None); the HTTP layer
    parses them (falling back to the raw string) as the extension's ``ParseToJToken`` does.
    ``history`` is the raw DTFx-shaped event list (dicts as in reference §1.2), only filled when
    asked for; the HTTP layer applies the §5.3 transformation.
    """

    instance_id: str
    name: str
    runtime_status: RuntimeStatus
    created_time: dt.datetime
    last_updated_time: dt.datetime
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    parent_instance_id: str | None = None
    execution_id: str | None = None
    history: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class InstanceQuery:
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    statuses: Sequence[RuntimeStatus] = ()
    instance_id_prefix: str | None = None
    top: int = 100
    continuation_token: str | None = None
    show_input: bool = True


@dataclass(frozen=True)
class EntityStatus:
    name: str  # lower-cased entity name
    key: str
    state: str | None  # JSON text
    last_operation_time: dt.datetime


# --- errors the engine raises; the HTTP layer maps them to the real status codes ------------


class TaskHubError(Exception):
    """Base of every error the engine reports to its callers."""


class InstanceNotFound(TaskHubError):
    def __init__(self, instance_id: str) -> None:
        super().__init__(f"No instance with ID '{instance_id}' found.")
        self.instance_id = instance_id


class InstanceGone(TaskHubError):
    """The operation needs a live instance; this one is Completed/Failed/Canceled/Terminated.

    (HTTP 410.)
    """

    def __init__(self, instance_id: str, status: RuntimeStatus) -> None:
        super().__init__(f"Instance '{instance_id}' is {status.value}.")
        self.instance_id = instance_id
        self.status = status


class InstanceExists(TaskHubError):
    """start with an explicit id while an instance with that id is in a status the host may not
    replace (any live one, unless host.json says ``AnyState``). (HTTP 500 on Azure.)
    """

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"An Orchestration instance with the ID '{instance_id}' already exists.")
        self.instance_id = instance_id


class UnknownFunction(TaskHubError):
    """No orchestrator (or entity) with that name is registered (400 ArgumentException on Azure)."""

    def __init__(self, name: str, kind: str, known: Sequence[str]) -> None:
        listing = ", ".join(f"'{k}'" for k in known)
        super().__init__(
            f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. "
            f"Additional info: The following are the known {kind} functions: {listing}."
        )
        self.name = name


class InvalidInstanceId(TaskHubError):
    """Instance id empty, too long (>256), starting with '@', or holding / \\ # ? or control
    characters."""


class InvalidOperation(TaskHubError):
    """e.g. rewind of an instance that is not Failed (500 on Azure)."""


# --- what the app loader hands the engine -----------------------------------------------------

OrchestratorInvoker = Callable[[str], str]
"""context JSON text (reference §1.1) -> OrchestratorState JSON text.

May raise with $OutOfProcData$ (reference §2.3).
"""

ActivityInvoker = Callable[[str | None], str | None]
"""action input JSON text -> result JSON text (df_dumps) or None; raises the user's exception."""

EntityInvoker = Callable[[str], str]
"""entity context JSON text (reference §6.1) -> entity result JSON text (§6.2)."""


@dataclass
class DurableFunctions:
    """The durable functions of one app, keyed by their registered name.

    Names compare case-insensitively.
    """

    orchestrators: dict[str, OrchestratorInvoker] = field(default_factory=dict)
    activities: dict[str, ActivityInvoker] = field(default_factory=dict)
    entities: dict[str, EntityInvoker] = field(default_factory=dict)


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Timezone-aware UTC now."""
        ...


class TaskHub(Protocol):
    """Everything the outside world can ask of the durable engine. All methods are thread-safe.

    ``input_json``/``reason`` etc. are exactly what the extension would store: for a start, the
    serialized input text (``json.dumps(json.loads(body))`` of the request body, or None).
    """

    hub_name: str

    def start_orchestration(
        self,
        name: str,
        input_json: str | None,
        instance_id: str | None = None,
        version: str | None = None,
    ) -> str:
        """Create (or replace an overridable) instance; returns its id. ``version`` None means
        host.json's ``defaultVersion``. Raises UnknownFunction, InvalidInstanceId,
        InstanceExists."""
        ...

    def get_status(
        self, instance_id: str, *, show_history: bool = False, show_input: bool = True
    ) -> InstanceStatus | None: ...

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceStatus], str | None]:
        """A page of instances (no history) ordered by creation, and the next continuation token."""
        ...

    def raise_event(self, instance_id: str, event_name: str, input_json: str | None) -> None:
        """Raises InstanceNotFound, InstanceGone."""
        ...

    def terminate(self, instance_id: str, reason: str | None) -> None: ...

    def suspend(self, instance_id: str, reason: str | None) -> None: ...

    def resume(self, instance_id: str, reason: str | None) -> None: ...

    def rewind(self, instance_id: str, reason: str | None) -> None: ...

    def restart(self, instance_id: str, restart_with_new_instance_id: bool = True) -> str:
        """Start the same orchestrator with the same input; returns the (new) instance id."""
        ...

    def purge_instance(self, instance_id: str) -> int: ...

    def purge_instances(
        self,
        created_from: dt.datetime,
        created_to: dt.datetime | None,
        statuses: Sequence[RuntimeStatus] = (),
    ) -> int: ...

    def signal_entity(
        self, name: str, key: str, operation: str, input_json: str | None
    ) -> None: ...

    def read_entity(self, name: str, key: str) -> EntityStatus | None: ...

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
        """A page of entities named ``name`` (every entity of the hub when it is empty or None),
        ordered by entity id, and the next continuation token (None on the last page).
        Raises ValueError for a token this hub did not issue."""
        ...

    def start(self) -> None:
        """Start background workers (orchestration episodes, activities, timers)."""
        ...

    def stop(self) -> None: ...

    def process_next(self) -> bool:
        """Run one unit of pending work (an episode, an activity, a due timer) in this thread;
        False when nothing was ready. Lets tests step the engine without sleeping."""
        ...
