"""Cancelling an execution: one mechanism, a fact in the job database that everyone reads.

**The fact.** An execution must stop when its row says ``cancel_requested`` (set by
``cancel_execution``, the API's ``POST /api/executions/{id}/cancel`` and the CLI's ``stop``), when
it has ended already (reconciliation ended it, or a step's orchestration failed and the execution
ended without its siblings' scripts), or when it is gone (removed, its job deleted): that is
``requested``. Nothing else carries a cancel; the paths below are only how each party that could
start or continue work comes to read the fact where it stands:

- *A target about to start* (``start_target_attempt``, ``turn_target_chunk``): the store reads the
  fact in the same transaction that would start it, and cancels the target instead.
- *A script running*: ``watch`` hands it an event that one thread per host process sets when a
  poll of the job database (every ``Cancellations.POLL_SECONDS``) finds the fact; the driver then
  cancels the statement (``sqlfleet.odbc``, ``sqlfleet.postgres``, ``sqlfleet.scriptprocesses``).
- *An orchestration asleep on a retry timer* cannot poll: ``cancel_execution`` raises the
  ``cancel`` event on each (``sqlfleet.durable.lanes.retry_sleepers`` names them;
  ``orchestrators.fanout`` races the timer against the event) and the woken lane cancels its
  targets. Reconciliation wakes them the same way when it ends an execution.
- *A retry lane that starts after the event was raised*, and *an attempt whose retry was written
  just after the cancel*: they read ``requested`` once more (the ``cancel_requested`` activity,
  ``sqlfleet.targetruns``), since the event could not have reached them.

An execution whose orchestration is already over or gone would never act on the fact:
``cancel_execution`` ends it at once (``sqlfleet.durable.reconciliation``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import azure.durable_functions as df

from sqlfleet.durable.lanes import retry_sleepers, wake_sleepers
from sqlfleet.durable.reconciliation import reconcile_execution
from sqlfleet.errors import NotFound
from sqlfleet.models import JobExecution
from sqlfleet.runtime import job_store
from sqlfleet.store import JobStore

logger = logging.getLogger("sqlfleet.cancellation")


async def cancel_execution(
    store: JobStore, client: df.DurableOrchestrationClient, execution_id: str
) -> JobExecution:
    """Ask the execution to stop (see the module's docstring) and answer it as it is now,
    without target rows. Raises ``NotFound`` for an unknown execution, and what the store or
    the durable client raise."""
    execution = store.request_cancel(execution_id)
    if execution.is_active:
        execution = await reconcile_execution(
            store, client, execution, store.now(), grace=dt.timedelta(0)
        )
    if execution.is_active:
        await wake_sleepers(client, retry_sleepers(store, execution_id))
    return execution


def requested(store: JobStore, execution_id: str) -> bool:
    """Whether work for the execution must stop: the fact of the module's docstring."""
    try:
        execution = store.get_job_execution(execution_id, include_targets=False)
    except NotFound:
        return True
    return execution.cancel_requested or not execution.is_active


class Cancellations:
    """The events of the scripts running in this host process, set within about
    ``POLL_SECONDS`` of a cancel: one watcher thread polls the job database for the executions
    that have scripts running, and ends when none has."""

    POLL_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, list[threading.Event]] = {}
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, execution_id: str) -> Iterator[threading.Event]:
        """An event set when the execution must stop, watched while the block runs."""
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
        pause = threading.Event()
        while True:
            pause.wait(self.POLL_SECONDS)
            with self._lock:
                watched = list(self._running)
                if not watched:
                    self._thread = None
                    return
            for execution_id in watched:
                try:
                    stop = requested(job_store(), execution_id)
                except Exception:  # noqa: BLE001 - the job database may be down for a while
                    logger.debug("cancel watch: job database unavailable", exc_info=True)
                    continue
                if stop:
                    with self._lock:
                        for event in self._running.get(execution_id, []):
                            event.set()


cancellations = Cancellations()
watch = cancellations.watch
