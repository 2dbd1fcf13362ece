"""Schedule arithmetic: when a job's next run falls due (pure functions, no clock of their own).

A schedule is Elastic Jobs' ``Once | Minutes | Hours | Days | Weeks | Months`` × count (≥ 1),
anchored at the start time and bounded by the end time, or a five-field ``cron`` expression
bounded by both. Occurrence *k* is ``start + k × interval``; months are calendar months counted
from the start, with the day clamped to the end of shorter months (Jan 31 → Feb 28/29 → Mar 31:
every occurrence is computed from the start, never from the previous occurrence, so a clamp does
not drift). ``once`` has a single occurrence at the start time. Occurrences lie in
``[start_time, end_time]`` (both inclusive).

**Time zones.** Without ``time_zone`` everything is UTC. With one (an IANA name), ``minutes``
and ``hours`` count elapsed time from the start (every 60 minutes, across a DST change too: an
hourly job runs 23 times on a spring-forward day and 25 on a fall-back day), while ``days``,
``weeks``, ``months`` and cron expressions keep the wall-clock time of that zone (09:00 stays
09:00 through the year). A wall-clock time the clocks skip runs at the first instant after the
gap; one they repeat runs once, at its first occurrence (``sqlfleet.timezones``).

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

from croniter import CroniterError, croniter

from sqlfleet.errors import ValidationFailed
from sqlfleet.models.jobs import DEFAULT_SCHEDULE_END, DEFAULT_SCHEDULE_START, Job
from sqlfleet.timezones import to_utc, wall_clock, zone

UTC = dt.timezone.utc

INTERVAL_TYPES = ("once", "minutes", "hours", "days", "weeks", "months")

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


_WALL_CLOCK_UNITS = {"days": dt.timedelta(days=1), "weeks": dt.timedelta(weeks=1)}
_ELAPSED_UNITS = {"minutes": dt.timedelta(minutes=1), "hours": dt.timedelta(hours=1)}
_EARLIEST_LOCAL_ANCHOR = dt.datetime(2000, 1, 1)
# Wider than any DST change (Troll's 2 h): cron searches start this far on the safe side.
_CRON_MARGIN = dt.timedelta(hours=3)
# Cron candidates looked at per search (a minutely cron within the margin: 180).
_CRON_STEPS = 2000


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
    where: dt.tzinfo = UTC
    cron: str | None = None

    @classmethod
    def of(cls, schedule: ScheduleLike) -> _Plan | None:
        cron = getattr(schedule, "cron", None)
        where = zone(getattr(schedule, "time_zone", None))
        kind = "cron" if cron else normalize_interval_type(schedule.interval_type)
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
        return cls(kind, count, start, end, where, cron)

    def first_after(self, after: dt.datetime) -> dt.datetime | None:
        if self.cron is not None:
            if after >= self.start:
                return self._cron_first_after(after)
            if self._cron_last_at_or_before(self.start) == self.start:
                return self.start
            return self._cron_first_after(self.start)
        if after < self.start:
            return self.start
        if self.kind == "once":
            return None
        k = self._index_at_or_before(after) + 1
        return self._bounded(k)

    def last_at_or_before(self, moment: dt.datetime) -> dt.datetime | None:
        if moment < self.start:
            return None
        if self.cron is not None:
            return self._cron_last_at_or_before(min(moment, self.end))
        if self.kind == "once":
            return self.start
        k = self._index_at_or_before(min(moment, self.end))
        return self._bounded(k)

    def _index_at_or_before(self, moment: dt.datetime) -> int:
        """The largest k ≥ 0 with occurrence(k) ≤ moment (moment ≥ start)."""
        if self.kind in _ELAPSED_UNITS:
            return (moment - self.start) // (_ELAPSED_UNITS[self.kind] * self.count)
        anchor, local = self._anchor(), wall_clock(moment, self.where)
        if self.kind in _WALL_CLOCK_UNITS:
            k = (local - anchor) // (_WALL_CLOCK_UNITS[self.kind] * self.count)
        else:
            k = ((local.year - anchor.year) * 12 + (local.month - anchor.month)) // self.count
        # The estimate is off by at most one either way (day clamps, the time of day, a DST
        # change between the wall clock and the instant).
        k = max(k, 0)
        while k > 0 and self._after(k, moment):
            k -= 1
        while not self._after(k + 1, moment):
            k += 1
        return k

    def _after(self, k: int, moment: dt.datetime) -> bool:
        occurrence = self._occurrence(k)
        return occurrence is None or occurrence > moment

    def _anchor(self) -> dt.datetime:
        if self.where is not UTC and self.start.year < _EARLIEST_LOCAL_ANCHOR.year:
            # Local times before time zones (LMT offsets, or before year 1): a schedule left at
            # the default start counts its days from local midnight of 2000-01-01 instead.
            return _EARLIEST_LOCAL_ANCHOR
        return wall_clock(self.start, self.where)

    def _cron_first_after(self, after: dt.datetime) -> dt.datetime | None:
        assert self.cron is not None
        try:
            search = croniter(self.cron, wall_clock(after, self.where) - _CRON_MARGIN)
        except OverflowError:
            return None
        for _ in range(_CRON_STEPS):
            try:
                candidate = to_utc(search.get_next(dt.datetime), self.where)
            except (OverflowError, ValueError, CroniterError):  # past year 1 or 9999
                return None
            if candidate > self.end:
                return None
            if candidate > after:
                return candidate
        return None

    def _cron_last_at_or_before(self, moment: dt.datetime) -> dt.datetime | None:
        assert self.cron is not None
        try:
            search = croniter(self.cron, wall_clock(moment, self.where) + _CRON_MARGIN)
        except OverflowError:
            return None
        for _ in range(_CRON_STEPS):
            try:
                candidate = to_utc(search.get_prev(dt.datetime), self.where)
            except (OverflowError, ValueError, CroniterError):  # past year 1 or 9999
                return None
            if candidate < self.start:
                return None
            if candidate <= moment:
                return candidate
        return None

    def _bounded(self, k: int) -> dt.datetime | None:
        occurrence = self._occurrence(k)
        if occurrence is None or occurrence > self.end:
            return None
        return occurrence

    def _occurrence(self, k: int) -> dt.datetime | None:
        try:
            if self.kind in _ELAPSED_UNITS:
                return self.start + _ELAPSED_UNITS[self.kind] * (self.count * k)
            if self.kind in _WALL_CLOCK_UNITS:
                local = self._anchor() + _WALL_CLOCK_UNITS[self.kind] * (self.count * k)
            else:
                shifted = _add_months(self._anchor(), self.count * k)
                if shifted is None:
                    return None
                local = shifted
            return to_utc(local, self.where)
        except (OverflowError, ValueError):
            return None


def _add_months(start: dt.datetime, months: int) -> dt.datetime | None:
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    if year > dt.MAXYEAR:
        return None
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)


def with_next_run(job: Job, now: dt.datetime) -> Job:
    """``job`` with ``next_run_time``: when its schedule runs it next after ``now`` (None when
    it is disabled or has no occurrence to come)."""
    upcoming = next_occurrence(job.schedule, now) if job.enabled else None
    return job.model_copy(update={"next_run_time": upcoming})
