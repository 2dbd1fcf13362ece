"""A signal that the job database changed, for long-polls in the same process.

Every committed write transaction of the job store calls ``changed()``. A long-poll awaits
``next_change(seen, timeout)``: it returns as soon as a write commits after ``seen`` (a number
from ``generation()``), or when ``timeout`` passes. Writes made by another process (another
instance of the app on Azure, a second CLI) do not signal here, which is why callers still
re-read on a timeout; in one process the waiter wakes within the moment of the commit instead of
on the next poll.

Writers run on worker threads and waiters on an event loop, so a write hands each waiting loop a
callback (``call_soon_threadsafe``); nothing here blocks a writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

_lock = threading.Lock()
_generation = 0
_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()


def generation() -> int:
    """How many writes have committed in this process (only ever grows)."""
    return _generation


def changed() -> None:
    """A write transaction committed: wake every waiter."""
    global _generation
    with _lock:
        _generation += 1
        waiting = list(_waiters)
        _waiters.clear()
    for loop, future in waiting:
        with contextlib.suppress(RuntimeError):  # a closed loop: its waiter went with it
            loop.call_soon_threadsafe(_settle, future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def next_change(seen: int, timeout: float) -> bool:
    """Wait until a write commits after generation ``seen``, or ``timeout`` seconds. Answers
    whether one did."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    entry = (loop, future)
    with _lock:
        if _generation != seen:
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
