"""Schedule arithmetic: when a job's next run falls due (pure functions, no clock of their own).

A schedule is Elastic Jobs' ``Once | Minutes | Hours | Days | Weeks | Months`` × count (≥ 1),
anchored at the start time and bounded by the end time, all in UTC. Occurrence *k* is
``start + k × interval``; months are calendar months counted from the start, with the day clamped
to the end of shorter months (Jan 31 → Feb 28/29 → Mar 31: every occurrence is computed from the
start, never from the previous occurrence, so a clamp does not drift). ``once`` has a single
occurrence at the start time. Occurrences lie in ``[start_time, end_time]`` (both inclusive).

A host that was down for a while owes one run, not a burst: ``due_occurrence`` returns only the
latest occurrence that fell due, and ``next_occurrence`` the first one strictly in the future.
Both are O(1) in the distance from the start (no walking from year 1).

Naive datetimes are taken to be UTC; results are tz-aware UTC. A disabled schedule has no
occurrences (``enabled`` gates only the schedule; manual starts are not its business).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from sqlfleet.errors import ValidationFailed
from sqlfleet.models.jobs import DEFAULT_SCHEDULE_END, DEFAULT_SCHEDULE_START

UTC = dt.timezone.utc

INTERVAL_TYPES = ("once", "minutes", "hours", "days", "weeks", "months")

_FIXED_UNITS = {
    "minutes": dt.timedelta(minutes=1),
    "hours": dt.timedelta(hours=1),
    "days": dt.timedelta(days=1),
    "weeks": dt.timedelta(weeks=1),
}
# T-SQL says 'Minutes', PowerShell says 'Minute': accept both spellings in any case.
_SPELLINGS = {name: name for name in INTERVAL_TYPES} | {
    name[:-1]: name for name in INTERVAL_TYPES if name != "once"
}


class ScheduleLike(Protocol):
    """What the functions here read from a schedule (``sqlfleet.models.jobs.Schedule`` has all but
    ``enabled``, which lives on the job; an object without ``enabled`` counts as enabled)."""

    @property
    def interval_type(self) -> str: ...
    @property
    def interval_count(self) -> int: ...
    @property
    def start_time(self) -> dt.datetime | None: ...
    @property
    def end_time(self) -> dt.datetime | None: ...


def normalize_interval_type(value: str) -> str:
    """``'Minutes'``/``'minute'``/``'MINUTES'`` → ``'minutes'``; raises ``ValidationFailed``."""
    text = value.value if isinstance(value, Enum) else str(value)
    found = _SPELLINGS.get(text.strip().lower())
    if found is None:
        raise ValidationFailed(
            "schedule_interval_type",
            f"'{value}' is not an interval type; use one of {', '.join(INTERVAL_TYPES)}",
        )
    return found


def as_utc(value: dt.datetime) -> dt.datetime:
    """The same instant as a tz-aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def next_occurrence(schedule: ScheduleLike, after: dt.datetime) -> dt.datetime | None:
    """The first occurrence strictly after ``after``, or None (disabled, ended, or once and past).

    Raises ``ValidationFailed`` for an unknown interval type or a count below 1.
    """
    plan = _Plan.of(schedule)
    if plan is None:
        return None
    return plan.first_after(as_utc(after))


def latest_occurrence(schedule: ScheduleLike, at_or_before: dt.datetime) -> dt.datetime | None:
    """The last occurrence at or before ``at_or_before``, or None if none has happened yet."""
    plan = _Plan.of(schedule)
    if plan is None:
        return None
    return plan.last_at_or_before(as_utc(at_or_before))


def due_occurrence(
    schedule: ScheduleLike, last_run: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """The single occurrence to run now: the latest one ≤ ``now`` that is > ``last_run``, or None.

    Missed occurrences collapse into this one run. ``last_run`` None means nothing ran yet, so a
    ``once`` schedule whose start time has passed is due.
    """
    latest = latest_occurrence(schedule, now)
    if latest is None:
        return None
    if last_run is not None and latest <= as_utc(last_run):
        return None
    return latest


@dataclass(frozen=True)
class _Plan:
    kind: str
    count: int
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def of(cls, schedule: ScheduleLike) -> _Plan | None:
        kind = normalize_interval_type(schedule.interval_type)
        count = int(schedule.interval_count)
        if count < 1:
            raise ValidationFailed(
                "schedule_interval_count", f"must be at least 1, got {schedule.interval_count}"
            )
        if not getattr(schedule, "enabled", True):
            return None
        start = as_utc(schedule.start_time or DEFAULT_SCHEDULE_START)
        end = as_utc(schedule.end_time or DEFAULT_SCHEDULE_END)
        if end < start:
            return None
        return cls(kind, count, start, end)

    def first_after(self, after: dt.datetime) -> dt.datetime | None:
        if after < self.start:
            return self.start
        if self.kind == "once":
            return None
        k = self._index_at_or_before(after) + 1
        return self._bounded(k)

    def last_at_or_before(self, moment: dt.datetime) -> dt.datetime | None:
        if moment < self.start:
            return None
        if self.kind == "once":
            return self.start
        k = self._index_at_or_before(min(moment, self.end))
        return self._bounded(k)

    def _index_at_or_before(self, moment: dt.datetime) -> int:
        """The largest k ≥ 0 with occurrence(k) ≤ moment (moment ≥ start)."""
        if self.kind in _FIXED_UNITS:
            return (moment - self.start) // (_FIXED_UNITS[self.kind] * self.count)
        months = (moment.year - self.start.year) * 12 + (moment.month - self.start.month)
        k = months // self.count
        # Occurrence k lies in the moment's month only when months is a multiple of count;
        # then the day clamp or the time of day may still put it after the moment.
        occurrence = self._occurrence(k)
        if occurrence is None or occurrence > moment:
            k -= 1
        return k

    def _bounded(self, k: int) -> dt.datetime | None:
        occurrence = self._occurrence(k)
        if occurrence is None or occurrence > self.end:
            return None
        return occurrence

    def _occurrence(self, k: int) -> dt.datetime | None:
        try:
            if self.kind in _FIXED_UNITS:
                return self.start + _FIXED_UNITS[self.kind] * (self.count * k)
            return _add_months(self.start, self.count * k)
        except OverflowError:
            return None


def _add_months(start: dt.datetime, months: int) -> dt.datetime | None:
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    if year > dt.MAXYEAR:
        return None
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)
