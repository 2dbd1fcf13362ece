"""Timer triggers: NCRONTAB schedule math (a pure function) and the runner on a fake clock."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from devhost.clock import FakeClock
from devhost.timers import (
    ScheduleError,
    TimerSchedule,
    TimerSpec,
    TimerStatusFile,
    TimerTriggers,
    next_occurrence,
    timer_payload,
)

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", "2024-01-01T10:03:07", "2024-01-01T10:05:00"),
        ("*/10 * * * * *", "2024-01-01T00:00:00", "2024-01-01T00:00:10"),  # strictly after
        ("*/10 * * * * *", "2024-01-01T00:00:09.500000", "2024-01-01T00:00:10"),
        ("0 30 9 * * 1-5", "2024-01-05T10:00:00", "2024-01-08T09:30:00"),  # Fri -> Mon
        ("30 9 * * 1-5", "2024-01-05T10:00:00", "2024-01-08T09:30:00"),  # five fields
        ("0 0 0 31 * *", "2024-01-31T00:00:00", "2024-03-31T00:00:00"),  # month ends
        ("0 0 0 29 2 *", "2023-03-01T00:00:00", "2024-02-29T00:00:00"),  # leap year
        ("0 0 12 13 * Fri", "2024-01-01T00:00:00", "2024-09-13T12:00:00"),  # day AND weekday
        ("0 0 8 * Jan mon", "2024-02-01T00:00:00", "2025-01-06T08:00:00"),  # names
        ("0 0 0 1 1 *", "2024-12-31T23:59:59", "2025-01-01T00:00:00"),  # year end
        ("15,45 * * * * *", "2024-01-01T00:00:16", "2024-01-01T00:00:45"),  # lists
        ("0 0 */6 * * *", "2024-01-01T06:00:00", "2024-01-01T12:00:00"),
    ],
)
def test_next_occurrence_table(expression, after, expected):
    schedule = TimerSchedule.parse(expression, {})
    assert next_occurrence(schedule, at(after)) == at(expected)


def test_time_zone_setting_is_honoured_across_daylight_saving():
    schedule = TimerSchedule.parse("0 0 9 * * *", {"WEBSITE_TIME_ZONE": "Europe/Paris"})
    assert schedule.next_occurrence(at("2024-07-01T00:00:00")) == at("2024-07-01T07:00:00")
    assert schedule.next_occurrence(at("2024-12-01T00:00:00")) == at("2024-12-01T08:00:00")


def test_setting_references_resolve():
    schedule = TimerSchedule.parse("%EVERY_MINUTE%", {"EVERY_MINUTE": "0 * * * * *"})
    assert schedule.expression == "0 * * * * *"


@pytest.mark.parametrize(
    ("expression", "settings", "message"),
    [
        ("* * *", {}, "has 3 fields"),
        ("0 0 25 * * *", {}, "not a valid NCRONTAB"),
        ("%MISSING%", {}, "'MISSING', which is not set"),
        ("0 * * * * *", {"WEBSITE_TIME_ZONE": "Mars/Olympus"}, "WEBSITE_TIME_ZONE"),
    ],
)
def test_bad_schedules_name_the_problem(expression, settings, message):
    with pytest.raises(ScheduleError, match=message):
        TimerSchedule.parse(expression, settings, "nightly")


def test_monitor_defaults_follow_the_interval():
    now = at("2024-01-01T00:00:00")
    assert TimerSchedule.parse("0 */5 * * * *", {}).default_use_monitor(now)
    assert not TimerSchedule.parse("*/10 * * * * *", {}).default_use_monitor(now)


def test_payload_shape_matches_the_host():
    payload = timer_payload(
        past_due=True,
        last=None,
        next_=at("2024-01-01T00:05:00"),
        updated=at("2024-01-01T00:01:00"),
        monitored=True,
    )
    assert payload == {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": {
            "Last": "0001-01-01T00:00:00+00:00",
            "Next": "2024-01-01T00:05:00+00:00",
            "LastUpdated": "2024-01-01T00:01:00+00:00",
        },
        "IsPastDue": True,
    }
    assert (
        timer_payload(
            past_due=False,
            last=None,
            next_=at("2024-01-01T00:05:00"),
            updated=at("2024-01-01T00:01:00"),
            monitored=False,
        )["ScheduleStatus"]
        is None
    )


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail = fail

    async def __call__(self, name: str, payload: dict) -> None:
        self.calls.append((name, payload))
        if self.fail:
            raise RuntimeError("timer function failed")


def test_runner_fires_on_startup_then_on_schedule_and_flags_late_runs():
    clock = FakeClock(at("2024-01-01T00:00:01"))
    calls = Recorder()
    spec = TimerSpec(
        "tick", TimerSchedule.parse("*/10 * * * * *", {}), run_on_startup=True, use_monitor=False
    )
    triggers = TimerTriggers([spec], calls, clock)

    async def scenario() -> list[list[str]]:
        fired = [await triggers.fire_due()]  # start-up run
        fired.append(await triggers.fire_due())  # nothing due yet
        clock.advance(9)  # 00:00:10
        fired.append(await triggers.fire_due())
        clock.advance(35)  # 00:00:45: the 00:00:20 occurrence is more than an interval late
        fired.append(await triggers.fire_due())
        return fired

    assert asyncio.run(scenario()) == [["tick"], [], ["tick"], ["tick"]]
    assert [payload["IsPastDue"] for _, payload in calls.calls] == [False, False, True]
    assert all(payload["ScheduleStatus"] is None for _, payload in calls.calls)
    assert triggers.next_due() == at("2024-01-01T00:00:50")


def test_monitor_runs_a_missed_occurrence_once_after_downtime(tmp_path):
    clock = FakeClock(at("2024-01-01T00:00:30"))
    status_file = TimerStatusFile(tmp_path / "timers.json")
    spec = TimerSpec("hourly", TimerSchedule.parse("0 0 * * * *", {}), use_monitor=True)
    first = Recorder()
    before_crash = TimerTriggers([spec], first, clock, status_file)
    assert status_file.load()["hourly"]["Next"] == "2024-01-01T01:00:00+00:00"
    assert asyncio.run(before_crash.fire_due()) == []
    clock.set(at("2024-01-01T01:00:00"))
    asyncio.run(before_crash.fire_due())
    assert first.calls[0][1]["IsPastDue"] is False
    assert first.calls[0][1]["ScheduleStatus"]["Next"] == "2024-01-01T02:00:00+00:00"

    clock.set(at("2024-01-01T05:30:00"))  # the host was down from 01:00 to 05:30
    after = Recorder(fail=True)
    restarted = TimerTriggers([spec], after, clock, status_file)
    assert asyncio.run(restarted.fire_due()) == ["hourly"]
    payload = after.calls[0][1]
    assert payload["IsPastDue"] is True
    assert payload["ScheduleStatus"]["Last"] == "2024-01-01T01:00:00+00:00"
    assert restarted.next_due() == at("2024-01-01T06:00:00")  # a failure does not stop it
    assert asyncio.run(restarted.fire_due()) == []


def test_runner_loop_stops_when_asked():
    clock = FakeClock(at("2024-01-01T00:00:00"))
    calls = Recorder()
    spec = TimerSpec("once", TimerSchedule.parse("0 0 0 1 1 *", {}), run_on_startup=True)
    triggers = TimerTriggers([spec], calls, clock)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(triggers.run(stop))
        deadline = asyncio.get_running_loop().time() + 5
        while not calls.calls and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [name for name, _ in calls.calls] == ["once"]
