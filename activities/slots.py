"""Activity slots shared fairly between executions: one job's stuck targets cannot starve
another job.

An activity holds one of the host's activity slots (host.json's ``maxConcurrentActivityFunctions``,
32) for as long as its scripts run, and a script can wait as long as its step timeout (12 hours
by default) on a server that never answers. Forty such targets of one job would hold every slot,
and another job's targets, even its bookkeeping, would wait in the host's queue. So:

- Target attempts (``run_target``) and chunks of them (``run_targets``) hold at most
  ``SQLFLEET_TARGET_ACTIVITY_SLOTS`` (24) slots of a host at once; the rest stay free for the
  bookkeeping activities that start, expand and finish steps and executions.
- One execution holds at most three quarters of those (18 of 24), so another execution always
  finds slots.
- An attempt that finds no slot for its execution waits a moment (``WAIT_SECONDS``: most
  scripts end within it) and is then *deferred*: the activity ends at once, freeing its slot,
  and the target's lane orchestration (a retry lane, started for it if need be) asks again
  after ``DEFER_SECONDS`` on a durable timer, in a new history (``continue_as_new``) so that
  hours of waiting do not grow one. The target stays as it was (``Created`` or
  ``WaitingForRetry``), its attempt count unchanged. A chunk of targets (``run_targets``) that
  finds no slot answers 0 and its ``step_batch`` asks again alike.

Each host process has its own pool; on Azure every instance shares its own slots alike.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlfleet.runtime import settings

WAIT_SECONDS = 0.5
DEFER_SECONDS = 2.0


class TargetSlots:
    """The pool: ``slots`` in all, ``per_execution`` of them for one execution at most."""

    def __init__(self, slots: int | None = None) -> None:
        self._changed = threading.Condition()
        self._slots = slots
        self._held: dict[str, int] = {}

    @property
    def slots(self) -> int:
        if self._slots is None:
            self._slots = settings().target_activity_slots
        return self._slots

    @property
    def per_execution(self) -> int:
        return max(1, self.slots * 3 // 4)

    def held(self, execution_id: str | None = None) -> int:
        """Slots held now, by ``execution_id`` or by all."""
        with self._changed:
            if execution_id is None:
                return sum(self._held.values())
            return self._held.get(execution_id, 0)

    @contextmanager
    def slot(self, execution_id: str, wait: float = WAIT_SECONDS) -> Iterator[bool]:
        """Hold a slot for ``execution_id`` while the block runs; yields False (holding
        nothing) when none came free within ``wait`` seconds: the caller defers its work."""
        taken = self._take(execution_id, wait)
        try:
            yield taken
        finally:
            if taken:
                self._give(execution_id)

    def _take(self, execution_id: str, wait: float) -> bool:
        deadline = time.monotonic() + wait
        with self._changed:
            while not self._free_for(execution_id):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            self._held[execution_id] = self._held.get(execution_id, 0) + 1
            return True

    def _free_for(self, execution_id: str) -> bool:
        return (
            self._held.get(execution_id, 0) < self.per_execution
            and sum(self._held.values()) < self.slots
        )

    def _give(self, execution_id: str) -> None:
        with self._changed:
            left = self._held.get(execution_id, 0) - 1
            if left > 0:
                self._held[execution_id] = left
            else:
                self._held.pop(execution_id, None)
            self._changed.notify_all()


def deferred_until(now: dt.datetime) -> dt.datetime:
    """When an attempt deferred at ``now`` asks again."""
    return now + dt.timedelta(seconds=DEFER_SECONDS)


target_slots = TargetSlots()
