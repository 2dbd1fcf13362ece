"""Compact views of big executions (for the monitoring page and ``sqlfleet wait``) and reruns.

A step of 10,000 targets is 10,000 rows: the page draws it from one character per target
(``LifecycleCodes``) and a timeline of integers (``Timeline``), paged by ordinal, never from
the full rows.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from sqlfleet.lifecycle import TERMINAL, Lifecycle
from sqlfleet.models.common import ApiModel, DocumentModel, field_error

# One character per lifecycle: the index of the lifecycle in this tuple, as a digit.
LIFECYCLE_LEGEND: tuple[Lifecycle, ...] = tuple(Lifecycle)
LIFECYCLE_CODE = {state: str(index) for index, state in enumerate(LIFECYCLE_LEGEND)}
MAX_CODES_PAGE = 100_000
MAX_TIMELINE_PAGE = 10_000
# A rerun of "the failed targets" unless the request names other lifecycles.
DEFAULT_RERUN_LIFECYCLES = (Lifecycle.FAILED, Lifecycle.TIMED_OUT)
NOT_SUCCEEDED = (Lifecycle.FAILED, Lifecycle.TIMED_OUT, Lifecycle.CANCELED, Lifecycle.SKIPPED)


class LifecycleCodes(DocumentModel):
    """``GET /api/executions/{id}/steps/{step_id}/lifecycles``: the lifecycle of targets
    ``start`` .. ``start + len(codes) - 1`` of a step, one character each: ``codes[i]`` is the
    index in ``legend`` of target ``start + i``'s lifecycle. ``total`` counts the step's
    targets; ask again from ``start + len(codes)`` while that is less than ``total``."""

    step_id: int
    total: int
    start: int
    legend: list[Lifecycle]
    codes: str


class TimelineAttempt(DocumentModel):
    """An attempt that ended in a retry: milliseconds from the timeline's ``origin``."""

    attempt: int
    start: int | None
    end: int


class TimelineTarget(DocumentModel):
    """One target on the timeline; times are milliseconds from the timeline's ``origin``.

    ``code`` is the lifecycle as in ``LifecycleCodes``; ``attempt_start`` is the current (or
    last) attempt's start, ``retry_at`` the next attempt's while it waits, ``earlier`` the
    attempts that ended in a retry."""

    ordinal: int
    code: int
    start: int | None
    end: int | None
    attempt_start: int | None
    retry_at: int | None
    attempts: int
    earlier: list[TimelineAttempt] = []


class Timeline(DocumentModel):
    """``GET /api/executions/{id}/steps/{step_id}/timeline``: a page of a step's targets in
    ordinal order, for a Gantt chart of attempts, retries and waits."""

    step_id: int
    total: int
    start: int
    origin: dt.datetime
    now: int
    legend: list[Lifecycle]
    targets: list[TimelineTarget]


class RerunIn(ApiModel):
    """``POST /api/executions/{id}/rerun``: which targets to run again, by the lifecycle
    they ended in (default the failed ones: ``Failed``, ``TimedOut``)."""

    lifecycles: list[Lifecycle] = Field(
        default_factory=lambda: list(DEFAULT_RERUN_LIFECYCLES), min_length=1, max_length=10
    )

    @model_validator(mode="after")
    def _terminal(self) -> RerunIn:
        active = [state.value for state in self.lifecycles if state not in TERMINAL]
        if active:
            raise field_error(
                "lifecycles",
                f"{', '.join(active)} is not a lifecycle a target ends in; choose among "
                + ", ".join(sorted(state.value for state in TERMINAL)),
            )
        return self
