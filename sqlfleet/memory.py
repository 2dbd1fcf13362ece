"""Giving the C heap back to the system after a big piece of work.

glibc keeps freed memory in its arenas, one per thread that allocated it: a 200 MB value read on
one thread, or pages of 10,000 target documents built on one worker thread after another, would
keep the process that much bigger for good. ``trim()`` asks glibc to return what is free in every
arena (``malloc_trim``); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def trim() -> None:
    """Return the free memory of every malloc arena to the system (glibc only)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
