"""Lets running scripts notice a cancel within about a second (``cancellations.watch``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlfleet.errors import NotFound
from sqlfleet.runtime import job_store
from sqlfleet.store import JobStore

logger = logging.getLogger("sqlfleet.activities")


class _Cancellations:
    """Lets running scripts notice a cancel within about a second: one watcher thread polls the
    job database for the executions that have scripts running in this process."""

    POLL_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, list[threading.Event]] = {}
        self._thread: threading.Thread | None = None

    def requested(self, store: JobStore, execution_id: str) -> bool:
        """Whether work for the execution should stop: it was asked to, it has ended already
        (a step's sub-orchestration failed and the execution ended without waiting for its
        siblings' scripts), or it is gone (removed, or its job deleted)."""
        try:
            execution = store.get_job_execution(execution_id, include_targets=False)
        except NotFound:
            return True
        return execution.cancel_requested or not execution.is_active

    @contextmanager
    def watch(self, execution_id: str) -> Iterator[threading.Event]:
        event = threading.Event()
        with self._lock:
            self._running.setdefault(execution_id, []).append(event)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._poll, name="sqlfleet-cancel-watch", daemon=True
                )
                self._thread.start()
        try:
            yield event
        finally:
            with self._lock:
                events = self._running.get(execution_id, [])
                if event in events:
                    events.remove(event)
                if not events:
                    self._running.pop(execution_id, None)

    def _poll(self) -> None:
        stop = threading.Event()
        while True:
            stop.wait(self.POLL_SECONDS)
            with self._lock:
                watched = list(self._running)
                if not watched:
                    self._thread = None
                    return
            for execution_id in watched:
                try:
                    requested = self.requested(job_store(), execution_id)
                except Exception:  # noqa: BLE001 - the job database may be down for a while
                    logger.debug("cancel watch: job database unavailable", exc_info=True)
                    continue
                if requested:
                    with self._lock:
                        for event in self._running.get(execution_id, []):
                            event.set()


cancellations = _Cancellations()
