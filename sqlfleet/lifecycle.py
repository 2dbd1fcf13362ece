"""Elastic Jobs' execution lifecycle: the states, the one transition table and rollup rules.

Every lifecycle change of a job, step or target execution goes through ``check_transition``;
the state of a parent (step, job) once all its children are done comes from ``rollup``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum

from sqlfleet.errors import IllegalTransition


class Lifecycle(str, Enum):
    """Values and spelling of ``jobs.job_executions.lifecycle``."""

    CREATED = "Created"
    IN_PROGRESS = "InProgress"
    WAITING_FOR_CHILD_JOB_EXECUTIONS = "WaitingForChildJobExecutions"
    WAITING_FOR_RETRY = "WaitingForRetry"
    SUCCEEDED = "Succeeded"
    SUCCEEDED_WITH_SKIPPED = "SucceededWithSkipped"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    CANCELED = "Canceled"
    SKIPPED = "Skipped"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


L = Lifecycle
TERMINAL = frozenset(
    {L.SUCCEEDED, L.SUCCEEDED_WITH_SKIPPED, L.FAILED, L.TIMED_OUT, L.CANCELED, L.SKIPPED}
)
ACTIVE = frozenset(set(L) - TERMINAL)

# From each state, the states it may move to. InProgress -> InProgress is a new attempt after a
# crash redelivered the activity (delivery is at least once); terminal states never change.
TRANSITIONS: Mapping[Lifecycle, frozenset[Lifecycle]] = {
    L.CREATED: frozenset(
        {
            L.IN_PROGRESS,
            L.WAITING_FOR_CHILD_JOB_EXECUTIONS,
            L.SUCCEEDED,
            L.SUCCEEDED_WITH_SKIPPED,
            L.FAILED,
            L.TIMED_OUT,
            L.CANCELED,
            L.SKIPPED,
        }
    ),
    L.IN_PROGRESS: frozenset(
        {
            L.IN_PROGRESS,
            L.WAITING_FOR_CHILD_JOB_EXECUTIONS,
            L.WAITING_FOR_RETRY,
            L.SUCCEEDED,
            L.SUCCEEDED_WITH_SKIPPED,
            L.FAILED,
            L.TIMED_OUT,
            L.CANCELED,
        }
    ),
    L.WAITING_FOR_CHILD_JOB_EXECUTIONS: frozenset(
        {
            L.IN_PROGRESS,
            L.SUCCEEDED,
            L.SUCCEEDED_WITH_SKIPPED,
            L.FAILED,
            L.TIMED_OUT,
            L.CANCELED,
        }
    ),
    L.WAITING_FOR_RETRY: frozenset({L.IN_PROGRESS, L.FAILED, L.TIMED_OUT, L.CANCELED}),
    **{state: frozenset() for state in TERMINAL},
}


def check_transition(
    current: Lifecycle, requested: Lifecycle, *, kind: str = "execution", name: str = ""
) -> bool:
    """Whether moving ``current`` -> ``requested`` changes anything.

    Returns False for a repeat of a terminal state (an at-least-once redelivery: nothing to do),
    True for an allowed change. Raises ``IllegalTransition`` for anything the table forbids.
    """
    if requested == current and current in TERMINAL:
        return False
    if requested not in TRANSITIONS[current]:
        raise IllegalTransition(kind, name, current.value, requested.value)
    return True


# Worst outcome first: a parent reports the worst of its children.
_ROLLUP_ORDER = (L.CANCELED, L.FAILED, L.TIMED_OUT)


def rollup(children: Iterable[Lifecycle]) -> Lifecycle:
    """The terminal state of a step (from its targets) or a job (from its steps).

    Canceled > Failed > TimedOut > SucceededWithSkipped (any child Skipped or
    SucceededWithSkipped) > Succeeded. No children: Succeeded. A failed step whose ``on_failure``
    is ``continue`` still makes its job Failed: the job's outcome never hides a failure.
    Raises ``ValueError`` when a child is still active.
    """
    states = set(children)
    active = states - TERMINAL
    if active:
        raise ValueError(f"children still active: {sorted(state.value for state in active)}")
    for worst in _ROLLUP_ORDER:
        if worst in states:
            return worst
    if states & {L.SKIPPED, L.SUCCEEDED_WITH_SKIPPED}:
        return L.SUCCEEDED_WITH_SKIPPED
    return L.SUCCEEDED
