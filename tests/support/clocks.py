"""A fake clock for the job store (``SqlJobStore._clock``)."""

from __future__ import annotations

import datetime as dt

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


class Clock:
    """A fake UTC clock: every reading advances one second."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now
