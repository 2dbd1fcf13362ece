"""A signal that the job database changed, for long-polls in the same process.

Every committed write transaction of the job store calls ``changed()``. A long-poll awaits
``next_change(seen, timeout)``: it returns as soon as a write commits after ``seen`` (a number
from ``generation()``), or when ``timeout`` passes. Writes made by another process (another
instance of the app on Azure, a second CLI) do not signal here, which is why callers still
re-read on a timeout; in one process the waiter wakes within the moment of the commit instead of
on the next poll.

A waiter for ends only (``endings=True``: ``until=ended``) wakes only for the writes that ended
something (``mark_ended`` in their transaction: an execution's row, or rows of its targets),
not for each of the many target writes on the way, every one of which would cost it a read.

Writers run on worker threads and waiters on an event loop, so a write hands each waiting loop a
callback (``call_soon_threadsafe``); nothing here blocks a writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

_lock = threading.Lock()
_generation = 0
_endings = 0
# (loop, future, endings only)
_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None], bool]] = set()
_ENDED = "sqlfleet_ended"


def generation(*, endings: bool = False) -> int:
    """How many writes (``endings``: writes that ended something) have committed in this
    process (only ever grows)."""
    return _endings if endings else _generation


def mark_ended(connection: Any) -> None:
    """Say that the write transaction of ``connection`` (a SQLAlchemy connection) ends rows."""
    connection.info[_ENDED] = True


def take_ended(connection: Any) -> bool:
    """Whether ``mark_ended`` was said of ``connection`` since the last call (which clears it:
    the info dict outlives the transaction)."""
    return bool(connection.info.pop(_ENDED, False))


def changed(*, ended: bool = False) -> None:
    """A write transaction committed (``ended``: one that ended rows): wake its waiters."""
    global _generation, _endings
    with _lock:
        _generation += 1
        _endings += ended
        waiting = [entry for entry in _waiters if ended or not entry[2]]
        _waiters.difference_update(waiting)
    for loop, future, _ in waiting:
        with contextlib.suppress(RuntimeError):  # a closed loop: its waiter went with it
            loop.call_soon_threadsafe(_settle, future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def next_change(seen: int, timeout: float, *, endings: bool = False) -> bool:
    """Wait until a write (``endings``: one that ended rows) commits after generation ``seen``
    (of the same kind), or ``timeout`` seconds. Answers whether one did."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    entry = (loop, future, endings)
    with _lock:
        if generation(endings=endings) != seen:
            return True
        _waiters.add(entry)
    try:
        await asyncio.wait_for(future, timeout)
    except TimeoutError:
        return False
    finally:
        with _lock:
            _waiters.discard(entry)
    return True
