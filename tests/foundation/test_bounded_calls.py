"""``call_bounded``: calls hand over to threads kept for the next call, and a call that hangs
keeps its thread alone without holding the caller or the calls after it."""

from __future__ import annotations

import threading
import time

import pytest

from sqlfleet import watchdogs
from sqlfleet.watchdogs import abandoned, call_bounded


def test_a_call_answers_and_the_next_call_reuses_its_thread() -> None:
    first = call_bounded(threading.get_ident, 5, None, 1, "first")
    # The thread goes back to the idle list just after the answer: wait until it has.
    deadline = time.monotonic() + 5
    while not watchdogs._BOUNDED._idle and time.monotonic() < deadline:
        time.sleep(0.001)
    second = call_bounded(threading.get_ident, 5, None, 1, "second")
    assert first == second
    assert first != threading.get_ident()


def test_what_a_call_raises_is_raised_in_the_caller() -> None:
    def failing() -> None:
        raise LookupError("no such thing")

    with pytest.raises(LookupError, match="no such thing"):
        call_bounded(failing, 5, None, 1, "failing")


def test_a_hung_call_is_abandoned_and_the_next_call_takes_another_thread() -> None:
    release, entered = threading.Event(), threading.Event()
    hung_thread: list[int] = []

    def hang() -> str:
        hung_thread.append(threading.get_ident())
        entered.set()
        release.wait(30)
        return "late"

    hanging_before = abandoned.hanging()
    cancel = threading.Event()
    cancel.set()  # a cancel: give up after the grace
    started = time.monotonic()
    assert call_bounded(hang, 30, cancel, 0.05, "a frozen driver") is None
    assert time.monotonic() - started < 5
    assert entered.is_set()
    assert abandoned.hanging() == hanging_before + 1
    try:
        other = call_bounded(threading.get_ident, 5, None, 1, "next")
        assert other != hung_thread[0]
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while abandoned.hanging() > hanging_before and time.monotonic() < deadline:
        time.sleep(0.005)
    assert abandoned.hanging() == hanging_before


def test_threads_beyond_what_is_kept_end() -> None:
    workers = watchdogs._Workers(keep=1)
    go, done = threading.Event(), threading.Semaphore(0)
    threads: list[threading.Thread] = []

    def work() -> None:
        threads.append(threading.current_thread())
        go.wait(10)
        done.release()

    workers.run(work)
    workers.run(work)  # the first is busy: a second thread
    go.set()
    for _ in range(2):
        assert done.acquire(timeout=10)
    deadline = time.monotonic() + 5
    while sum(t.is_alive() for t in threads) > 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(threads) == 2 and threads[0] is not threads[1]
    assert sum(t.is_alive() for t in threads) == 1
    assert len(workers._idle) == 1
