"""timerTrigger: NCRONTAB schedules, run-on-startup, past-due detection, the TimerRequest payload.

Schedules follow the Functions host (reference §8): six fields with seconds first
(``{second} {minute} {hour} {day} {month} {day-of-week}``) or the classic five; numbers, ``*``,
ranges, lists, steps and English month/day names; ``%SettingName%`` reads an app setting. As in
NCrontab, when both day-of-month and day-of-week are restricted a time must match *both*.
Times are UTC unless the ``WEBSITE_TIME_ZONE`` setting names an IANA zone.

Monitoring (``use_monitor``; default on for schedules whose interval is at least a minute) keeps
each timer's last/next occurrence in a JSON file in the data folder, so a host that was down
across an occurrence runs the function once at start-up with ``IsPastDue: true``.
Time comes from an injected clock; ``TimerTriggers.fire_due()`` runs whatever is due *now* and
``run()`` loops on it for the real host.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from devhost.datalock import make_private_file
from devhost.taskhub import Clock

TIME_ZONE_SETTING = "WEBSITE_TIME_ZONE"
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)
_SETTING_REFERENCE = re.compile(r"^%([^%]+)%$")

logger = logging.getLogger("Host.Triggers.Timer")


class ScheduleError(ValueError):
    """A timer schedule cannot be used; the message names the function and the expression."""


@dataclass(frozen=True)
class TimerSchedule:
    """A parsed NCRONTAB expression in a time zone."""

    expression: str
    zone: dt.tzinfo = dt.timezone.utc

    @classmethod
    def parse(
        cls, expression: str, settings: Mapping[str, str] | None = None, function_name: str = "?"
    ) -> TimerSchedule:
        """Resolve ``%Setting%``, check the expression and the time zone setting.

        Raises ScheduleError naming the function, the expression and the fix.
        """
        settings = os.environ if settings is None else settings
        resolved = expression.strip()
        reference = _SETTING_REFERENCE.match(resolved)
        if reference:
            name = reference.group(1)
            if name not in settings:
                raise ScheduleError(
                    f"timer '{function_name}': schedule '{expression}' names the app setting "
                    f"'{name}', which is not set; add it to local.settings.json Values"
                )
            resolved = settings[name].strip()
        fields = resolved.split()
        if len(fields) not in (5, 6):
            raise ScheduleError(
                f"timer '{function_name}': schedule '{resolved}' has {len(fields)} fields; "
                "expected 6 ('{second} {minute} {hour} {day} {month} {day-of-week}') or 5"
            )
        if not croniter.is_valid(resolved, second_at_beginning=len(fields) == 6):
            raise ScheduleError(
                f"timer '{function_name}': '{resolved}' is not a valid NCRONTAB expression, "
                "e.g. '0 */5 * * * *' runs every five minutes"
            )
        zone: dt.tzinfo = dt.timezone.utc
        zone_name = settings.get(TIME_ZONE_SETTING)
        if zone_name:
            try:
                zone = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise ScheduleError(
                    f"setting {TIME_ZONE_SETTING}='{zone_name}' is not a known IANA time zone "
                    "(e.g. 'Europe/Paris')"
                ) from error
        return cls(resolved, zone)

    @property
    def has_seconds(self) -> bool:
        return len(self.expression.split()) == 6

    def next_occurrence(self, after: dt.datetime) -> dt.datetime:
        """The first occurrence strictly after ``after`` (UTC, timezone-aware)."""
        return next_occurrence(self, after)

    def default_use_monitor(self, now: dt.datetime) -> bool:
        """Monitor by default when occurrences are at least a minute apart (as the host does)."""
        first = self.next_occurrence(now)
        return (self.next_occurrence(first) - first) >= dt.timedelta(minutes=1)


def next_occurrence(schedule: TimerSchedule, after: dt.datetime) -> dt.datetime:
    """Pure schedule math: the first occurrence of ``schedule`` strictly after ``after``."""
    if after.tzinfo is None:
        after = after.replace(tzinfo=dt.timezone.utc)
    local = after.astimezone(schedule.zone)
    # croniter only counts whole seconds; start from the second we are in.
    local = local.replace(microsecond=0)
    iterator = croniter(
        schedule.expression,
        local,
        day_or=False,
        second_at_beginning=schedule.has_seconds,
    )
    found: dt.datetime = iterator.get_next(dt.datetime)
    return found.astimezone(dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    """ISO-8601 with offset, the way the host writes ScheduleStatus values."""
    return moment.astimezone(dt.timezone.utc).isoformat()


def timer_payload(
    *,
    past_due: bool,
    last: dt.datetime | None,
    next_: dt.datetime,
    updated: dt.datetime,
    monitored: bool,
) -> dict[str, Any]:
    """The JSON the host sends for a timer invocation (reference §8)."""
    status = None
    if monitored:
        status = {"Last": iso(last or NEVER), "Next": iso(next_), "LastUpdated": iso(updated)}
    return {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": status, "IsPastDue": past_due}


class TimerStatusFile:
    """The monitor's memory: ``{function: {"Last", "Next", "LastUpdated"}}`` in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, str]]:
        try:
            make_private_file(self.path)
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            logger.warning("timer status file %s is not JSON; starting afresh", self.path)
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, statuses: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)  # a .tmp left behind by an older host
            file.write(json.dumps(statuses, indent=1))
        temporary.replace(self.path)


@dataclass
class TimerSpec:
    """One timer function as the runner needs it."""

    name: str
    schedule: TimerSchedule
    run_on_startup: bool = False
    use_monitor: bool | None = None


@dataclass
class _TimerState:
    spec: TimerSpec
    monitored: bool
    due: dt.datetime
    last: dt.datetime | None = None
    past_due: bool = False
    running: bool = False
    startup: bool = False


TimerInvoke = Callable[[str, dict[str, Any]], Awaitable[None]]
"""(function name, TimerRequest JSON payload) -> completes when the invocation has finished."""


@dataclass
class TimerTriggers:
    """Fires timer functions on schedule. ``fire_due`` is the step; ``run`` loops on it."""

    specs: list[TimerSpec]
    invoke: TimerInvoke
    clock: Clock
    status_file: TimerStatusFile | None = None
    _states: dict[str, _TimerState] = field(default_factory=dict, init=False)
    _statuses: dict[str, dict[str, str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        now = self.clock.now()
        self._statuses = self.status_file.load() if self.status_file else {}
        for spec in self.specs:
            monitored = spec.use_monitor
            if monitored is None:
                monitored = spec.schedule.default_use_monitor(now)
            monitored = monitored and self.status_file is not None
            state = _TimerState(spec, monitored, spec.schedule.next_occurrence(now))
            stored = self._statuses.get(spec.name) if monitored else None
            if stored:
                state.last = _read_time(stored.get("Last"))
                scheduled = _read_time(stored.get("Next"))
                if scheduled is not None and scheduled <= now:
                    # The host was down when this occurrence came: run once now, flagged.
                    state.due, state.past_due = now, True
            if spec.run_on_startup and not state.past_due:
                state.due, state.startup = now, True
            self._states[spec.name] = state
            if monitored and not stored:
                self._record(state, now)

    def next_due(self) -> dt.datetime | None:
        """When the earliest timer is due (None without timers)."""
        waiting = [s.due for s in self._states.values() if not s.running]
        return min(waiting) if waiting else None

    async def fire_due(self) -> list[str]:
        """Invoke (and wait for) every timer due at ``clock.now()``; returns their names."""
        now = self.clock.now()
        due = [s for s in self._states.values() if not s.running and s.due <= now]
        await asyncio.gather(*(self._fire(state, now) for state in due))
        return [state.spec.name for state in due]

    async def _fire(self, state: _TimerState, now: dt.datetime) -> None:
        scheduled = state.due
        following = state.spec.schedule.next_occurrence(max(scheduled, now))
        # Late by more than a whole interval (or catching up after downtime): past due.
        past_due = state.past_due or (
            not state.startup and state.spec.schedule.next_occurrence(scheduled) <= now
        )
        payload = timer_payload(
            past_due=past_due,
            last=state.last,
            next_=following,
            updated=now,
            monitored=state.monitored,
        )
        state.running = True
        try:
            await self.invoke(state.spec.name, payload)
        except Exception:  # the next occurrence still comes, as on the real host
            logger.exception("timer '%s' failed", state.spec.name)
        finally:
            state.running = False
            if not state.startup:
                state.last = scheduled
            state.past_due = state.startup = False
            finished = self.clock.now()
            state.due = state.spec.schedule.next_occurrence(max(scheduled, finished))
            if state.monitored:
                self._record(state, finished)

    def _record(self, state: _TimerState, now: dt.datetime) -> None:
        self._statuses[state.spec.name] = {
            "Last": iso(state.last or NEVER),
            "Next": iso(state.due),
            "LastUpdated": iso(now),
        }
        if self.status_file is not None:
            try:
                self.status_file.save(self._statuses)
            except OSError as error:
                logger.warning(
                    "could not save timer status to %s: %s", self.status_file.path, error
                )

    async def run(self, stop: asyncio.Event) -> None:
        """Fire timers until ``stop`` is set (the real host's loop); waits for running ones."""
        wake = asyncio.Event()
        running: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            wake.set()

        while not stop.is_set():
            now = self.clock.now()
            for state in [s for s in self._states.values() if not s.running and s.due <= now]:
                state.running = True
                task = asyncio.create_task(self._fire(state, now))
                running.add(task)
                task.add_done_callback(finished)
            upcoming = self.next_due()
            delay = 3600.0 if upcoming is None else (upcoming - self.clock.now()).total_seconds()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(
                waiters, timeout=max(0.0, min(delay, 3600.0)), return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
            wake.clear()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


def _read_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return None if moment <= NEVER else moment
