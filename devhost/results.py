"""Finished activities on their way into the task hub (part of :class:`devhost.worker.Worker`).

Activity threads ``put`` their results; one thread records them in batches (``deliver``), so a
fan-in of N completions costs a few transactions. Results the store refuses (a full disk) are
kept and offered again after a pause, with those that came meanwhile: their activity rows are
behind the worker's feeder, so nothing else would run them again before a restart, and their
orchestrations would wait for ever. When a batch fails, each result goes alone, so that one
the store cannot take holds up no other.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from devhost.hubstore import TaskHubStore
from devhost.workitems import Delivery

FLUSH_BATCH = 5000
RETRY_SECONDS = 2.0


class ActivityResults:
    """``put`` from any thread; ``start`` and ``stop`` the recording thread. ``recorded`` is
    called after each attempt to record (the dispatcher looks for runnable work)."""

    def __init__(
        self, store: TaskHubStore, log: logging.Logger, recorded: Callable[[], None]
    ) -> None:
        self.store = store
        self.log = log
        self._recorded = recorded
        self._queue: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def put(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="devhost-flusher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Record what was put so far (one more try for refused results), then end."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        pending: list[Delivery] = []
        retry_at = 0.0
        finished = False
        while not finished:
            wait = max(0.0, retry_at - time.monotonic()) if pending else None
            batch, finished = self._take(wait)
            pending += batch
            # After a refusal, newer results wait with the refused ones for the pause to end.
            if pending and (finished or time.monotonic() >= retry_at):
                pending = self._record(pending)
                if pending:
                    retry_at = time.monotonic() + RETRY_SECONDS
                self._recorded()
        if pending:
            self.log.error(
                "stopping with %d activity results unrecorded; they run again on the next start",
                len(pending),
            )

    def _take(self, wait: float | None) -> tuple[list[Delivery], bool]:
        """Up to ``FLUSH_BATCH`` results, waiting ``wait`` seconds (None: until one comes) for
        the first; and whether to stop."""
        batch: list[Delivery] = []
        try:
            first = self._queue.get(timeout=wait)
        except queue.Empty:
            return batch, False
        if first is None:
            return batch, True
        batch.append(first)
        while len(batch) < FLUSH_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _record(self, batch: list[Delivery]) -> list[Delivery]:
        """Deliver ``batch``; answers the results the store refused."""
        try:
            self.store.deliver(batch)
            return []
        except Exception as error:  # noqa: BLE001 - a full disk or a broken row: told below
            failure: Exception = error
        refused = batch
        if len(batch) > 1:
            refused = []
            for delivery in batch:
                try:
                    self.store.deliver([delivery])
                except Exception as error:  # noqa: BLE001 - kept and offered again
                    failure = error
                    refused.append(delivery)
        if refused:
            self.log.warning(
                "could not record %d activity results (%s: %s); trying again in %ss",
                len(refused),
                type(failure).__name__,
                failure,
                RETRY_SECONDS,
            )
        return refused
