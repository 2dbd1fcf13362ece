"""Wall-clock times of an IANA time zone as instants, with one rule for DST gaps and overlaps.

- A wall-clock time that a spring-forward skips (02:30 on a day the clocks go from 02:00 to
  03:00) is taken as the first instant after the gap (03:00 local): a job due then runs as soon
  as the clocks allow, once.
- A wall-clock time that a fall-back repeats (01:30 when 02:00 goes back to 01:00) is taken at
  its first occurrence (the earlier instant, still on summer time): it runs once, not twice.

The mapping never goes backwards (a later wall-clock time is never an earlier instant), which
the schedule arithmetic relies on.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

UTC = dt.timezone.utc


def zone(name: str | None) -> dt.tzinfo:
    """The ``tzinfo`` of an IANA name (None: UTC). Raises ``ZoneInfoNotFoundError``."""
    return UTC if not name else zoneinfo.ZoneInfo(name)


def wall_clock(moment: dt.datetime, where: dt.tzinfo) -> dt.datetime:
    """The naive wall-clock time at ``where`` of the aware ``moment``."""
    return moment.astimezone(where).replace(tzinfo=None, fold=0)


def to_utc(naive: dt.datetime, where: dt.tzinfo) -> dt.datetime:
    """The instant (aware, UTC) of the wall-clock time ``naive`` at ``where``, by the rule above."""
    earlier = naive.replace(tzinfo=where, fold=0).astimezone(UTC)
    if wall_clock(earlier, where) == naive.replace(fold=0):
        return earlier  # exists; fold=0 is the first of a repeated time
    # In a gap. fold=1 reads it with the offset after the change, fold=0 with the one before:
    # the change lies between the two instants; find its first second.
    low = naive.replace(tzinfo=where, fold=1).astimezone(UTC)
    high = earlier
    if low > high:
        low, high = high, low
    offset_after = high.astimezone(where).utcoffset()
    while high - low > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(where).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) if high.microsecond else high
