"""Statement deadlines and cancels: a ``Watchdog`` per running statement, one thread for all.

``sqlfleet.odbc`` (``SQLCancel`` on a pyodbc cursor) and ``sqlfleet.sqlitefiles``
(``sqlite3.Connection.interrupt``) stop a statement when the step timeout passes or the execution
is cancelled, through the same watcher. ``call_bounded`` is the last resort, for a driver that
answers neither: its caller stops waiting, and the call is left to end on its own
(``abandoned``).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger("sqlfleet.watchdogs")
T = TypeVar("T")


class Watchdog:
    """Stops the running statement (``interrupt()``) once ``seconds`` have passed, or as soon
    as ``cancel`` is set (a user cancelled the execution), and says which happened
    (``fired``, ``canceled``).

    One thread (``_STATEMENTS``) watches every running statement of the process; the interrupt
    itself (``SQLCancel``, which for some drivers opens a connection) runs on a thread of its
    own, and leaving the block waits for it, so the connection is never closed under it.
    ``interrupt`` must swallow the errors of a statement that ended meanwhile.
    """

    def __init__(
        self,
        interrupt: Callable[[], None],
        seconds: float,
        cancel: threading.Event | None = None,
    ) -> None:
        self.interrupt = interrupt
        self.deadline = time.monotonic() + max(0.0, seconds)
        self.cancel = cancel
        self.lock = threading.Lock()
        self.finished = False
        self.fired = False
        self.canceled = False
        self.canceller: threading.Thread | None = None

    def __enter__(self) -> Watchdog:
        _STATEMENTS.watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.finished = True
            canceller = self.canceller
        _STATEMENTS.forget(self)
        if canceller is not None:
            canceller.join()

    def due(self, now: float) -> bool:
        return now >= self.deadline or (self.cancel is not None and self.cancel.is_set())

    def fire(self) -> None:
        with self.lock:
            # A script that just finished must not be reported as timed out or cancelled.
            if self.finished:
                return
            self.fired = True
            self.canceled = self.cancel is not None and self.cancel.is_set()
            self.canceller = threading.Thread(
                target=self.interrupt, name="statement-cancel", daemon=True
            )
            self.canceller.start()


class _StatementWatcher:
    """The one thread that fires ``Watchdog``s: it sleeps until the earliest deadline, and
    looks at the cancel events every ``POLL_SECONDS`` while some statement has one."""

    POLL_SECONDS = 0.25

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._watched: set[Watchdog] = set()
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None

    def watch(self, watchdog: Watchdog) -> None:
        with self._changed:
            self._watched.add(watchdog)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="odbc-watchdog", daemon=True)
                self._thread.start()
            # Wake the thread only when it would sleep past this statement's first look.
            first_look = watchdog.deadline
            if watchdog.cancel is not None:
                first_look = min(first_look, time.monotonic() + self.POLL_SECONDS)
            if first_look < self._wake_at:
                self._changed.notify()

    def forget(self, watchdog: Watchdog) -> None:
        with self._changed:
            self._watched.discard(watchdog)

    def _run(self) -> None:
        while True:
            with self._changed:
                due = self._wait_for_due()
            for watchdog in due:
                watchdog.fire()

    def _wait_for_due(self) -> list[Watchdog]:
        while True:
            now = time.monotonic()
            due = [w for w in self._watched if w.due(now)]
            if due:
                self._watched.difference_update(due)
                return due
            wake_at = min((w.deadline for w in self._watched), default=math.inf)
            if any(w.cancel is not None for w in self._watched):
                wake_at = min(wake_at, now + self.POLL_SECONDS)
            self._wake_at = wake_at
            self._changed.wait(None if wake_at == math.inf else wake_at - now)
            self._wake_at = math.inf


_STATEMENTS = _StatementWatcher()


def call_bounded(
    work: Callable[[], T],
    seconds: float,
    cancel: threading.Event | None,
    grace: float,
    what: str,
) -> T | None:
    """``work()`` on another thread (``_BOUNDED``); its answer (or what it raised), or None
    when it has not answered ``grace`` seconds after ``seconds`` have passed or ``cancel`` was
    set. The call then goes on alone (``abandoned`` counts it; ``what`` names it in the log)."""
    answer: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            answer.append(work())
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            failure.append(error)
        finally:
            done.set()

    _BOUNDED.run(run)
    give_up = time.monotonic() + max(0.0, seconds) + grace
    while not done.is_set():
        now = time.monotonic()
        if cancel is not None and cancel.is_set():
            give_up, cancel = min(give_up, now + grace), None
        if now >= give_up:
            break
        done.wait(min(give_up - now, _STATEMENTS.POLL_SECONDS if cancel is not None else math.inf))
    if not done.is_set():
        abandoned.add(done, what)
        return None
    if failure:
        raise failure[0]
    return answer[0]


class _Workers:
    """The threads that run ``call_bounded``'s calls. A thread whose call ended waits for the
    next one (up to ``keep`` wait; more end), so that a call costs a hand-over, not a thread's
    start, which waits until the new thread gets the interpreter lock: with a busy host, several
    milliseconds per target. A call that hangs holds its thread alone; the next call takes
    another, or a new one. (A ``ThreadPoolExecutor`` would not do: it queues calls behind hung
    ones once all its threads hang, and joins its threads at exit, which a hung call would
    hold up.)"""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []

    def run(self, work: Callable[[], None]) -> None:
        """Start ``work()`` on an idle thread, or on a new one."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            thread = threading.Thread(target=self._serve, args=(inbox,), name="bounded-call")
            thread.daemon = True
            thread.start()
        inbox.put(work)

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            inbox.get()()  # the call catches what it raises (call_bounded's ``run``)
            with self._lock:
                if len(self._idle) >= self._keep:
                    return
                self._idle.append(inbox)


# A little over the host's default cap on target connections (100): as many idle threads as
# calls are likely at once.
_BOUNDED = _Workers(keep=128)


class _Abandoned:
    """Calls that ``call_bounded`` stopped waiting for; each ends when its driver's own
    timeouts do, and the log says how many still hang."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[threading.Event] = []

    def add(self, done: threading.Event, what: str) -> None:
        """Count the call that sets ``done`` when it ends."""
        with self._lock:
            self._calls = [c for c in self._calls if not c.is_set()] + [done]
            hanging = len(self._calls)
        logger.warning(
            "gave up waiting for the driver of %s, which answered neither its timeouts nor its "
            "cancel; %d such call(s) still hang",
            what,
            hanging,
        )

    def hanging(self) -> int:
        """How many abandoned calls have not ended yet."""
        with self._lock:
            self._calls = [c for c in self._calls if not c.is_set()]
            return len(self._calls)


abandoned = _Abandoned()
