"""Clocks for the durable engine: real time in production, a hand-driven clock in tests."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

UTC = dt.timezone.utc


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FakeClock:
    """A clock that only moves when a test moves it; thread-safe.

    Engines poll their clock, so after ``advance`` a stepping test sees due timers on its next
    ``process_next()`` and a started engine within its timer poll interval.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        start = start or dt.datetime(2024, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every move (a started engine re-checks its timers)."""
        self._listeners.append(listener)

    def _moved(self) -> None:
        for listener in list(self._listeners):
            listener()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta | float) -> dt.datetime:
        """Move forward by a timedelta or a number of seconds; returns the new time."""
        if not isinstance(delta, dt.timedelta):
            delta = dt.timedelta(seconds=delta)
        if delta < dt.timedelta(0):
            raise ValueError("FakeClock cannot go backwards")
        with self._lock:
            self._now += delta
            now = self._now
        self._moved()
        return now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            if when.astimezone(UTC) < self._now:
                raise ValueError("FakeClock cannot go backwards")
            self._now = when.astimezone(UTC)
        self._moved()
