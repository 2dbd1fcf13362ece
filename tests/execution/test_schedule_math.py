"""Schedule arithmetic: table tests plus a brute-force cross-check (sqlfleet.schedules)."""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace

import pytest

from sqlfleet.errors import ValidationFailed
from sqlfleet.models.jobs import DEFAULT_SCHEDULE_END, DEFAULT_SCHEDULE_START, IntervalType
from sqlfleet.schedules import due_occurrence, latest_occurrence, next_occurrence

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _table(text: str) -> list[tuple]:
    """Rows of a whitespace-separated table; '#' lines are comments, '-' is None."""
    rows = []
    for line in text.strip().splitlines()[1:]:
        if line.startswith("#"):
            continue
        cells = [None if cell == "-" else cell for cell in line.split()]
        cells[1] = int(cells[1])
        rows.append(tuple(cells))
    return rows


def schedule(kind="once", count=1, start=None, end=None, enabled=True):
    return SimpleNamespace(
        interval_type=kind,
        interval_count=count,
        start_time=at(start) if start else DEFAULT_SCHEDULE_START,
        end_time=at(end) if end else DEFAULT_SCHEDULE_END,
        enabled=enabled,
    )


NEXT = _table(
    """
kind    count      start            end              after                      next
once    1          2025-03-01T08:00 -                2025-02-01T00:00           2025-03-01T08:00
once    1          2025-03-01T08:00 -                2025-03-01T08:00           -
once    1          2025-03-01T08:00 -                2030-01-01T00:00           -
minutes 15         2025-01-01T00:00 -                2025-01-01T00:00           2025-01-01T00:15
minutes 15         2025-01-01T00:00 -                2025-01-01T00:14:59.999999 2025-01-01T00:15
minutes 15         2025-01-01T00:00 -                2025-01-01T00:15           2025-01-01T00:30
minutes 15         2025-01-01T00:00 -                2024-12-31T23:59           2025-01-01T00:00
hours   5          2025-01-01T01:30 -                2025-01-02T00:00           2025-01-02T02:30
days    1          2024-02-28T06:00 -                2024-02-28T06:00           2024-02-29T06:00
days    1          2023-02-28T06:00 -                2023-02-28T06:00           2023-03-01T06:00
days    10         2025-01-01T00:00 -                2025-01-25T00:00           2025-01-31T00:00
weeks   1          2025-01-06T09:00 -                2025-01-13T09:00           2025-01-20T09:00
weeks   2          2025-01-06T09:00 -                2025-01-07T00:00           2025-01-20T09:00
# Months: the day clamps to short months and comes back, anchored on the start.
months  1          2024-01-31T10:00 -                2024-01-31T10:00           2024-02-29T10:00
months  1          2024-01-31T10:00 -                2024-02-29T10:00           2024-03-31T10:00
months  1          2024-01-31T10:00 -                2024-03-31T10:00           2024-04-30T10:00
months  1          2023-01-31T10:00 -                2023-01-31T10:00           2023-02-28T10:00
months  1          2024-01-31T10:00 -                2024-02-29T09:59           2024-02-29T10:00
months  1          2024-01-31T10:00 -                2024-02-29T10:01           2024-03-31T10:00
months  1          2024-01-30T00:00 -                2024-02-15T00:00           2024-02-29T00:00
months  1          2024-01-15T12:00 -                2024-05-15T11:59:59        2024-05-15T12:00
months  1          2024-01-15T12:00 -                2024-05-15T12:00           2024-06-15T12:00
months  3          2024-11-30T00:00 -                2024-12-01T00:00           2025-02-28T00:00
months  3          2024-11-30T00:00 -                2025-02-28T00:00           2025-05-30T00:00
months  1          2024-12-31T23:00 -                2025-01-01T00:00           2025-01-31T23:00
# Leap years: a Feb 29 anchor every 12 months lands on Feb 28 until the next leap year.
months  12         2024-02-29T00:00 -                2024-02-29T00:00           2025-02-28T00:00
months  12         2024-02-29T00:00 -                2027-03-01T00:00           2028-02-29T00:00
months  48         2096-02-29T00:00 -                2096-02-29T00:00           2100-02-28T00:00
days    365        2024-02-29T00:00 -                2024-02-29T00:00           2025-02-28T00:00
# End times: inclusive, and nothing after them.
hours   1          2025-01-01T00:00 2025-01-01T03:00 2025-01-01T02:00           2025-01-01T03:00
hours   1          2025-01-01T00:00 2025-01-01T03:00 2025-01-01T03:00           -
hours   1          2025-01-01T00:00 2025-01-01T02:59 2025-01-01T02:00           -
months  1          2024-01-31T00:00 2024-02-28T23:59 2024-01-31T00:00           -
once    1          2025-01-01T00:00 2024-12-31T00:00 2024-01-01T00:00           -
# Far-past starts (the default 0001-01-01) are computed, not walked.
minutes 1          -                -                2025-06-15T10:30:30        2025-06-15T10:31
weeks   1          -                -                2025-06-15T12:00           2025-06-16T00:00
months  1          -                -                2025-06-15T12:00           2025-07-01T00:00
days    7          -                -                2025-06-15T12:00           2025-06-16T00:00
# The very end of time: the default end is 9999-12-31 11:59:59.
days    1          9999-12-30T00:00 -                9999-12-30T00:00           9999-12-31T00:00
days    1          9999-12-30T00:00 -                9999-12-31T00:00           -
hours   12         9999-12-30T00:00 -                9999-12-31T00:00           -
months  1          9999-11-30T00:00 -                9999-12-01T00:00           9999-12-30T00:00
months  1          9999-12-01T00:00 -                9999-12-01T00:00           -
# Large counts.
minutes 2147483647 2024-01-01T00:00 -                2024-01-01T00:00           6107-01-24T02:07
months  2147483647 2024-01-01T00:00 -                2024-01-01T00:00           -
weeks   520000     0001-01-01T00:00 -                2025-01-01T00:00           9966-12-26T00:00
weeks   530000     0001-01-01T00:00 -                2025-01-01T00:00           -
"""
)


@pytest.mark.parametrize(("kind", "count", "start", "end", "after", "expected"), NEXT)
def test_next_occurrence(kind, count, start, end, after, expected):
    found = next_occurrence(schedule(kind, count, start, end), at(after))
    assert found == (at(expected) if expected else None)
    if found is not None:
        assert found.tzinfo == UTC


DUE = _table(
    """
kind    n start            end              last_run         now                 due
once    1 -                -                -                2025-01-01T00:00    0001-01-01T00:00
once    1 -                -                2024-01-01T00:00 2025-01-01T00:00    -
once    1 2025-03-01T08:00 -                -                2025-03-01T07:59    -
once    1 2025-03-01T08:00 -                -                2025-03-01T08:00    2025-03-01T08:00
hours   1 2025-01-01T00:00 -                2025-01-01T00:00 2025-01-01T00:59    -
hours   1 2025-01-01T00:00 -                2025-01-01T00:00 2025-01-01T01:00    2025-01-01T01:00
# Downtime: three missed hours collapse into the latest one.
hours   1 2025-01-01T00:00 -                2025-01-01T01:00 2025-01-01T04:30    2025-01-01T04:00
hours   1 2025-01-01T00:00 -                2025-01-01T04:00 2025-01-01T04:30    -
hours   1 2025-01-01T00:00 -                -                2024-12-31T23:00    -
hours   1 2025-01-01T00:00 2025-01-01T02:00 2025-01-01T01:00 2025-06-01T00:00    2025-01-01T02:00
hours   1 2025-01-01T00:00 2025-01-01T02:00 2025-01-01T02:00 2025-06-01T00:00    -
months  1 2024-01-31T10:00 -                2024-01-31T10:00 2024-03-01T00:00    2024-02-29T10:00
months  1 2024-01-31T10:00 -                2024-02-29T10:00 2024-03-31T09:59    -
minutes 1 -                -                2025-06-15T10:29 2025-06-15T10:30:30 2025-06-15T10:30
"""
)


@pytest.mark.parametrize(("kind", "count", "start", "end", "last", "now", "expected"), DUE)
def test_due_occurrence(kind, count, start, end, last, now, expected):
    found = due_occurrence(schedule(kind, count, start, end), at(last) if last else None, at(now))
    assert found == (at(expected) if expected else None)


def test_disabled_schedule_has_no_occurrences():
    off = schedule("minutes", 1, "2025-01-01 00:00", enabled=False)
    assert next_occurrence(off, at("2025-01-01 00:00")) is None
    assert due_occurrence(off, None, at("2025-02-01 00:00")) is None


def test_model_schedule_without_enabled_counts_as_enabled():
    plain = SimpleNamespace(
        interval_type=IntervalType.DAYS,
        interval_count=2,
        start_time=at("2025-01-01 00:00"),
        end_time=DEFAULT_SCHEDULE_END,
    )
    assert next_occurrence(plain, at("2025-01-01 00:00")) == at("2025-01-03 00:00")


@pytest.mark.parametrize("spelling", ["Months", "months", "MONTH", "month", IntervalType.MONTHS])
def test_interval_type_spellings(spelling):
    found = next_occurrence(schedule(spelling, 1, "2025-01-31"), at("2025-01-31"))
    assert found == at("2025-02-28")


def test_time_zones_and_naive_datetimes():
    hourly = schedule("hours", 1, "2025-01-01 00:00")
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert next_occurrence(hourly, dt.datetime(2025, 1, 1, 2, 30, tzinfo=plus_two)) == at(
        "2025-01-01 01:00"
    )
    assert next_occurrence(hourly, dt.datetime(2025, 1, 1, 0, 30)) == at("2025-01-01 01:00")
    naive_start = SimpleNamespace(
        interval_type="hours",
        interval_count=1,
        start_time=dt.datetime(2025, 1, 1),
        end_time=None,
        enabled=True,
    )
    assert next_occurrence(naive_start, at("2025-01-01 00:00")) == at("2025-01-01 01:00")


@pytest.mark.parametrize(
    ("kind", "count", "field"),
    [("fortnights", 1, "schedule_interval_type"), ("days", 0, "schedule_interval_count")],
)
def test_invalid_schedules_name_the_field(kind, count, field):
    with pytest.raises(ValidationFailed) as caught:
        next_occurrence(schedule(kind, count, "2025-01-01"), at("2025-01-01"))
    assert caught.value.field == field


def test_far_past_start_is_constant_time():
    every_minute = schedule("minutes", 1)
    monthly = schedule("months", 1)
    began = time.perf_counter()
    for _ in range(1000):
        next_occurrence(every_minute, at("9999-12-31 11:58:30"))
        latest_occurrence(monthly, at("9999-12-31 11:00"))
    assert time.perf_counter() - began < 1.0
    assert next_occurrence(every_minute, at("9999-12-31 11:58:30")) == at("9999-12-31 11:59")
    assert next_occurrence(every_minute, at("9999-12-31 11:59")) is None


def _brute_force(kind: str, count: int, start: dt.datetime, end: dt.datetime, n: int):
    """The first n occurrences by stepping from the start (fixed) or month by month."""
    found = []
    for k in range(n):
        if kind == "months":
            index = start.year * 12 + start.month - 1 + k * count
            year, month = divmod(index, 12)
            day = start.day
            while True:
                try:
                    value = start.replace(year=year, month=month + 1, day=day)
                    break
                except ValueError:
                    day -= 1
        else:
            unit = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}[kind]
            value = start + dt.timedelta(seconds=unit * count * k)
        if value > end:
            break
        found.append(value)
    return found


@pytest.mark.parametrize("kind", ["minutes", "hours", "days", "weeks", "months"])
@pytest.mark.parametrize("count", [1, 2, 5, 13])
@pytest.mark.parametrize("start", ["2023-01-31 23:59:59", "2024-02-29 12:00", "2024-08-30 00:00"])
def test_matches_brute_force(kind, count, start):
    begin = at(start)
    occurrences = _brute_force(kind, count, begin, DEFAULT_SCHEDULE_END, 40)
    plan = schedule(kind, count, start)
    for earlier, later in zip(occurrences, occurrences[1:], strict=False):
        assert next_occurrence(plan, earlier) == later
        assert next_occurrence(plan, earlier + (later - earlier) / 2) == later
        assert next_occurrence(plan, later - dt.timedelta(microseconds=1)) == later
        assert latest_occurrence(plan, later - dt.timedelta(microseconds=1)) == earlier
        assert due_occurrence(plan, earlier, later) == later


# --- time zones and cron (issue 16) ----------------------------------------------------------
# New York: 2026-03-08 02:00 EST becomes 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT becomes
# 01:00 EST (06:00Z), so 01:00-02:00 happens twice.
NEW_YORK = "America/New_York"


def zoned(local_start: str, kind: str = "days", zone: str = NEW_YORK, cron: str | None = None):
    from sqlfleet.models.jobs import Schedule

    document = {"time_zone": zone, "start_time": local_start}
    document |= {"cron": cron} if cron else {"interval_type": kind}
    return Schedule.model_validate(document)


def walk(plan, after: str, count: int) -> list[str]:
    moments, moment = [], at(after)
    for _ in range(count):
        moment = next_occurrence(plan, moment)
        moments.append(moment.isoformat().replace("+00:00", "Z"))
    return moments


def test_a_daily_schedule_keeps_its_wall_clock_time_and_a_skipped_time_runs_after_the_gap():
    plan = zoned("2026-03-06T02:30:00")  # 02:30 New York time, no offset given: local
    assert plan.start_time == at("2026-03-06T07:30:00+00:00")
    assert walk(plan, "2026-03-06T12:00:00", 4) == [
        "2026-03-07T07:30:00Z",  # 02:30 EST
        "2026-03-08T07:00:00Z",  # 02:30 does not exist: 03:00 EDT, the first instant after
        "2026-03-09T06:30:00Z",  # 02:30 EDT
        "2026-03-10T06:30:00Z",
    ]


def test_a_repeated_wall_clock_time_runs_once_at_its_first_occurrence():
    plan = zoned("2026-10-30T01:30:00")
    assert walk(plan, "2026-10-31T00:00:00", 3) == [
        "2026-10-31T05:30:00Z",  # 01:30 EDT
        "2026-11-01T05:30:00Z",  # 01:30 EDT, the first of the two; 06:30Z (EST) does not run
        "2026-11-02T06:30:00Z",  # 01:30 EST
    ]
    cron = zoned("2026-01-01T00:00:00", cron="30 1 * * *")
    assert walk(cron, "2026-10-31T12:00:00", 2) == ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    assert latest_occurrence(cron, at("2026-11-01T06:45:00")) == at("2026-11-01T05:30:00")


def test_hours_count_elapsed_time_across_dst_changes():
    plan = zoned("2026-03-07T00:00:00", kind="hours")
    spring_day = walk(plan, "2026-03-08T04:59:59", 30)  # local midnight is 05:00Z
    assert sum(moment < "2026-03-09T04:00:00Z" for moment in spring_day) == 23
    autumn = walk(plan, "2026-11-01T03:59:59", 30)  # local midnight is 04:00Z
    assert sum(moment < "2026-11-02T05:00:00Z" for moment in autumn) == 25


def test_cron_in_a_time_zone_and_in_utc():
    weekdays = zoned("2026-01-01T00:00:00", cron="0 9 * * 1-5", zone="Europe/Paris")
    # Friday 2026-03-27 09:00 CET, then Monday 2026-03-30 09:00 CEST (clocks changed Sunday).
    assert walk(weekdays, "2026-03-27T00:00:00", 2) == [
        "2026-03-27T08:00:00Z",
        "2026-03-30T07:00:00Z",
    ]
    from sqlfleet.models.jobs import Schedule

    utc = Schedule.model_validate({"cron": "*/20 * * * *"})
    assert walk(utc, "2026-05-01T10:05:00", 3) == [
        "2026-05-01T10:20:00Z", "2026-05-01T10:40:00Z", "2026-05-01T11:00:00Z",
    ]  # fmt: skip
    assert due_occurrence(utc, None, at("2026-05-01T10:05:00")) == at("2026-05-01T10:00:00")


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"cron": "every day"}, "cron"),
        ({"cron": "0 9 * * * *"}, "cron"),
        ({"cron": "0 9 * * *", "interval_type": "hours"}, "cron"),
    ],
)
def test_bad_zones_and_cron_expressions_are_refused(document, field):
    from pydantic import ValidationError

    from sqlfleet.models.jobs import Schedule

    with pytest.raises(ValidationError) as error:
        Schedule.model_validate(document)
    assert field in str(error.value)
