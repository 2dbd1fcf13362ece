"""Local scripts (SQLite files on this host) in a few child processes of their own.

A host that runs many SQLite targets at once spends much of its time waiting for the
interpreter lock, shared with its bookkeeping (the SQLite ODBC driver's connect lock was a
second queue, until SQLite targets moved to Python's ``sqlite3``, ``sqlfleet.sqlitefiles``). A
child process has its own, and does nothing else: ``bench/fleet.py`` on 2 cores, 1,000
databases, went from 720-830 targets/s to about 1,000.

- ``ScriptProcesses.run(calls, cancel)``: the calls in one child, each as
  ``sqlfleet.odbc.run_script`` runs it, one after the other, and side by side on the child's
  threads that are idle when the request comes (``run_calls``); a set ``cancel`` is passed on
  to the child, which cancels the running statements and skips the rest.
- The children start on first use, in the background: until one says it is ready,
  ``ready()`` is false and the caller runs its scripts itself.
- A child that dies fails the requests it held (``ScriptProcessEnded``) and is replaced on the
  next request. A child whose parent dies sees its end of the socket close and exits at once.
- The children run at a lower priority than the host (``NICENESS``): when the machine is
  busy, the host's bookkeeping, which starts their next turns, goes first.
- A child is retired when it grew past ``MEMORY_LIMIT_BYTES`` (its peak resident size; a huge
  value leaves a heap behind): it says so, takes no new request, answers the ones it holds and
  exits, and a new one takes its place. A request that a child holds ``STUCK_SECONDS`` past
  its calls' step timeouts (or past a cancel) is answered ``TimedOut`` (or ``Canceled``) and
  the child is killed: whatever held it cannot hold the host.

Each child is ``python -m sqlfleet.scriptprocesses FD``, talking pickled messages over one end
of a socket pair: the parent's ``__main__`` is not imported again, and a child holds only
pyodbc and this package (about 40 MB). Requests carry the targets' sign-in secrets; they cross
the socket only, never a log. They also carry the host's ``SqliteFolders``: a child opens only
the files its parent's settings allow.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import functools
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlfleet.errors import SqlFleetError
from sqlfleet.odbc import ScriptOutcome, release_memory, run_script
from sqlfleet.redaction import redact
from sqlfleet.signin import ConnectionAuth
from sqlfleet.sqlitefolders import SqliteFolders
from sqlfleet.targets import Target

logger = logging.getLogger("sqlfleet.scriptprocesses")

# How often a waiting caller looks at its cancel event.
CANCEL_POLL_SECONDS = 0.2
# A child whose peak resident size passed this is retired (a child starts at about 40 MB).
MEMORY_LIMIT_BYTES = 512 * 1024 * 1024
# How long past its deadline (or a cancel) a request may go unanswered before its child is killed.
STUCK_SECONDS = 10.0
# How much nicer than the host a child runs (added to the host's niceness, up to 19). The
# children are the host's batch work; the host keeps the pace: it records each turn and starts
# the next, and answers the API meanwhile. On 2 cores, during a run of 10,000 SQLite files,
# reading the execution took a median 57-90 ms with it against 110-123 ms without, and the run
# took as long.
NICENESS = 10


@dataclasses.dataclass(frozen=True)
class ScriptCall:
    """One ``run_script`` call, as a child receives it."""

    target: Target
    auth: ConnectionAuth
    script: str
    timeout_seconds: float
    max_rows: int
    variables: dict[str, str]
    driver: str | None
    sqlite_folders: SqliteFolders | None = None  # None: the child's own settings


@dataclasses.dataclass(frozen=True)
class ScriptRun:
    """When one call started and ended; ``outcome`` is None when a cancel came before it."""

    started: dt.datetime
    ended: dt.datetime
    outcome: ScriptOutcome | None


class ScriptProcessEnded(SqlFleetError):
    """The child running a request ended before answering (a crash or a kill)."""

    code = "ScriptProcessEnded"


def run_calls(
    calls: Sequence[ScriptCall],
    cancel: threading.Event,
    helpers: int = 0,
    start_helper: Callable[[Callable[[], None]], None] | None = None,
) -> list[ScriptRun]:
    """Run ``calls`` here (what a child does with a request), one after the other in this
    thread and in the ``helpers`` more lanes started through ``start_helper`` (threads that are
    idle now): each lane takes the next call not yet taken. A helper that starts late finds
    nothing left and ends, so the answer never waits for one that did not start."""
    runs: list[ScriptRun | None] = [None] * len(calls)
    failures: list[BaseException] = []
    order = iter(range(len(calls)))
    lock = threading.Condition()
    left = len(calls)

    def lane() -> None:
        nonlocal left
        while True:
            with lock:
                index = next(order, None)
            if index is None:
                return
            try:
                runs[index] = _run_call(calls[index], cancel)
            except BaseException as error:  # a bug: the request fails with it, below
                failures.append(error)
            with lock:
                left -= 1
                lock.notify_all()

    if start_helper is not None:
        for _ in range(min(helpers, len(calls) - 1)):
            start_helper(lane)
    lane()
    with lock:
        lock.wait_for(lambda: left == 0)
    if failures:
        raise failures[0]
    return [run for run in runs if run is not None]


def _run_call(call: ScriptCall, cancel: threading.Event) -> ScriptRun:
    started = _now()
    if cancel.is_set():
        return ScriptRun(started, started, None)
    outcome = run_script(
        call.target,
        call.auth,
        call.script,
        timeout_seconds=call.timeout_seconds,
        max_rows=call.max_rows,
        variables=call.variables,
        driver=call.driver,
        cancel=cancel,
        sqlite_folders=call.sqlite_folders,
    )
    return ScriptRun(started, _now(), outcome)


class ScriptProcesses:
    """``processes`` children, each running up to ``threads`` requests side by side."""

    def __init__(
        self, processes: int, threads: int, memory_limit: int = MEMORY_LIMIT_BYTES
    ) -> None:
        self.processes = processes
        self.threads = threads
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._children: list[_Child] = []

    def ready(self) -> bool:
        """Whether a child can take a request now; starts the missing children if not."""
        with self._lock:
            self._replace_ended()
            return any(child.serving for child in self._children)

    def run(self, calls: Sequence[ScriptCall], cancel: threading.Event) -> list[ScriptRun]:
        """Run ``calls`` in the least busy ready child; raises ``ScriptProcessEnded`` when that
        child ends first (the caller decides whether to run them again). A request the child
        holds ``STUCK_SECONDS`` too long is answered as stopped, and the child killed."""
        with self._lock:
            self._replace_ended()
            ready = [child for child in self._children if child.serving]
            if not ready:
                raise ScriptProcessEnded("no script process is ready")
            child = min(ready, key=lambda c: c.busy)
            request_id, answer = child.submit(list(calls))
        give_up = time.monotonic() + sum(c.timeout_seconds for c in calls) + STUCK_SECONDS
        while True:
            try:
                return answer.result(timeout=CANCEL_POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                now = time.monotonic()
                if cancel.is_set() and give_up > now + STUCK_SECONDS:
                    give_up = now + STUCK_SECONDS
                    child.cancel(request_id)
                if now >= give_up:
                    logger.warning(
                        "script process %d held a request %g s past its deadline: killed",
                        child.process.pid,
                        STUCK_SECONDS,
                    )
                    child.kill()
                    return _stopped(calls, canceled=cancel.is_set())

    def held(self) -> int:
        """How many requests the children hold (sent, not answered yet)."""
        with self._lock:
            return sum(child.busy for child in self._children)

    def pids(self) -> list[int]:
        """The process ids of the children alive now."""
        with self._lock:
            return [child.process.pid for child in self._children if not child.ended.is_set()]

    def close(self) -> None:
        """Stop the children (their running scripts end with them)."""
        with self._lock:
            children, self._children = self._children, []
        for child in children:
            child.stop()

    def _replace_ended(self) -> None:
        self._children = [child for child in self._children if not child.ended.is_set()]
        serving = [child for child in self._children if not child.retiring.is_set()]
        for _ in range(self.processes - len(serving)):
            self._children.append(_Child(self.threads, self.memory_limit))


def _stopped(calls: Sequence[ScriptCall], *, canceled: bool) -> list[ScriptRun]:
    """The runs of a request whose child was killed: stopped, as a watchdog would have."""
    now = _now()
    runs = []
    for call in calls:
        outcome = ScriptOutcome()
        outcome.stopped(canceled=canceled, timeout_seconds=call.timeout_seconds)
        outcome.error = f"{outcome.error}; the script process did not stop it, and was killed"
        runs.append(ScriptRun(now, now, outcome))
    return runs


class _Child:
    """One child process and the thread that reads its answers."""

    def __init__(self, threads: int, memory_limit: int) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    __name__,
                    str(theirs.fileno()),
                    str(threads),
                    str(memory_limit),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=_child_environment(),
            )
        self.connection = Connection(ours.detach())
        self.ready = threading.Event()
        self.ended = threading.Event()
        self.retiring = threading.Event()  # grew too big: takes no new request
        self._lock = threading.Lock()
        self._answers: dict[int, concurrent.futures.Future[list[ScriptRun]]] = {}
        self._ids = itertools.count(1)
        threading.Thread(
            target=self._read, name=f"script-process-{self.process.pid}", daemon=True
        ).start()

    @property
    def busy(self) -> int:
        return len(self._answers)

    @property
    def serving(self) -> bool:
        return self.ready.is_set() and not self.retiring.is_set() and not self.ended.is_set()

    def kill(self) -> None:
        """End the child now; the requests it holds fail (``ScriptProcessEnded``)."""
        with contextlib.suppress(OSError):
            self.process.kill()

    def submit(
        self, calls: list[ScriptCall]
    ) -> tuple[int, concurrent.futures.Future[list[ScriptRun]]]:
        answer: concurrent.futures.Future[list[ScriptRun]] = concurrent.futures.Future()
        with self._lock:
            request_id = next(self._ids)
            if self.retiring.is_set():  # it was told that no request follows
                answer.set_exception(self._ended_error())
                return request_id, answer
            self._answers[request_id] = answer
            try:
                self.connection.send(("run", request_id, calls))
            except OSError:
                self._answers.pop(request_id)
                answer.set_exception(self._ended_error())
        return request_id, answer

    def cancel(self, request_id: int) -> None:
        with self._lock, contextlib.suppress(OSError):
            self.connection.send(("cancel", request_id, None))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()

    def _read(self) -> None:
        try:
            while True:
                kind, request_id, body = self.connection.recv()
                if kind == "ready":
                    self.ready.set()
                    continue
                if kind == "retiring":
                    logger.info(
                        "script process %d grew past %d MiB: retiring it",
                        self.process.pid,
                        int(body) // (1024 * 1024),
                    )
                    with self._lock, contextlib.suppress(OSError):
                        self.retiring.set()
                        self.connection.send(("retired", 0, None))
                    continue
                with self._lock:
                    answer = self._answers.pop(request_id)
                if kind == "done":
                    answer.set_result(body)
                else:
                    answer.set_exception(SqlFleetError(f"the script process failed: {body}"))
        except (EOFError, OSError):
            pass
        except Exception:  # an answer that cannot be read: this child cannot be trusted
            logger.exception("unreadable answer from script process %d", self.process.pid)
            self.process.kill()
        self.ended.set()
        with contextlib.suppress(OSError):
            self.connection.close()
        self.process.wait()
        with self._lock:
            answers, self._answers = self._answers, {}
        error = self._ended_error()
        if answers:
            logger.warning("%s with %d request(s) unanswered", error, len(answers))
        for answer in answers.values():
            answer.set_exception(error)

    def _ended_error(self) -> ScriptProcessEnded:
        return ScriptProcessEnded(
            f"the script process {self.process.pid} ended "
            f"(exit status {self.process.poll()}) before answering"
        )


def _child_environment() -> dict[str, str]:
    """The parent's environment, with this package's folder first on the import path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _serve(connection: Connection, threads: int, memory_limit: int) -> None:
    """A child's life: run requests on ``threads`` threads until the parent goes away, or until
    it grew past ``memory_limit`` bytes and answered what it held (the parent, told, sends
    ``retired`` and no request after it)."""
    pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="script")
    sending = threading.Lock()
    cancels: dict[int, threading.Event] = {}
    state = {"retiring": False, "retired": False}
    # Threads of the pool running something: a request takes the idle ones as helper lanes,
    # so that a turn of a few targets runs side by side while the child has little to do.
    busy = [0]
    counting = threading.Lock()

    def counted(work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            with counting:
                busy[0] -= 1

    def start(work: Callable[[], None]) -> None:
        with counting:
            busy[0] += 1
        pool.submit(counted, work)

    def answer(request_id: int, calls: list[ScriptCall], cancel: threading.Event) -> None:
        message: tuple[str, int, Any]
        try:
            with counting:
                idle = threads - busy[0]
            runs = run_calls(calls, cancel, idle, start)
            if any(run.outcome is not None and run.outcome.large_values for run in runs):
                release_memory()
            message = ("done", request_id, runs)
        except Exception as error:  # noqa: BLE001 - a bug; the parent raises it
            secrets = [s for call in calls for s in call.auth.secrets]
            message = ("failed", request_id, _redacted(f"{type(error).__name__}: {error}", secrets))
        with sending, contextlib.suppress(OSError):
            cancels.pop(request_id, None)
            connection.send(message)
            peak = _peak_resident_bytes()
            if not state["retiring"] and peak > memory_limit:
                state["retiring"] = True
                connection.send(("retiring", 0, peak))
            if state["retired"] and not cancels:
                os._exit(0)

    with contextlib.suppress(OSError):  # a system that refuses leaves it as it is
        os.nice(NICENESS)
    connection.send(("ready", 0, None))
    while True:
        try:
            kind, request_id, body = connection.recv()
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone: nobody wants these answers
        with sending:
            if kind == "run":
                cancels[request_id] = threading.Event()
                start(functools.partial(answer, request_id, body, cancels[request_id]))
            elif kind == "cancel" and (event := cancels.get(request_id)) is not None:
                event.set()
            elif kind == "retired":
                state["retired"] = True
                if not cancels:
                    os._exit(0)


def _peak_resident_bytes() -> int:
    """This process's peak resident size (Linux; 0 where ``/proc`` cannot tell)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _redacted(text: str, secrets: Sequence[str]) -> str:
    return str(redact(text, secrets))


if __name__ == "__main__":
    # By its own name, so that what it sends unpickles as sqlfleet.scriptprocesses' classes.
    from sqlfleet import scriptprocesses

    scriptprocesses._serve(Connection(int(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]))
