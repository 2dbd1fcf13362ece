"""The messages of schedules and notifications (see ``sqlfleet.durable.messages``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlfleet.times import format_utc, parse_utc


@dataclasses.dataclass(frozen=True)
class ScheduleState:
    """A ``job_schedule`` orchestration's input: the job, and its ``last_occurrence`` that ran
    (None: nothing ran yet)."""

    job_id: str
    last_occurrence: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"job_id": self.job_id}
        if self.last_occurrence is not None:
            document["last_occurrence"] = format_utc(self.last_occurrence)
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ScheduleState:
        last = document.get("last_occurrence")
        return cls(str(document["job_id"]), parse_utc(last) if last else None)


@dataclasses.dataclass(frozen=True)
class LoadedSchedule:
    """``load_schedule``'s answer (None when the job is gone): the job's schedule, which the
    schedule functions of ``sqlfleet.schedules`` take as it is."""

    job_name: str
    enabled: bool
    interval_type: str
    interval_count: int
    start_time: dt.datetime
    end_time: dt.datetime
    time_zone: str | None = None
    cron: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "start_time": self.start_time.isoformat(),
                "end_time": self.end_time.isoformat()}  # fmt: skip

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> LoadedSchedule:
        return cls(
            str(document.get("job_name", "")),
            bool(document.get("enabled")),
            str(document["interval_type"]),
            int(document["interval_count"]),
            parse_utc(document["start_time"]),
            parse_utc(document["end_time"]),
            document.get("time_zone"),
            document.get("cron"),
        )


@dataclasses.dataclass(frozen=True)
class ScheduledRun:
    """``start_scheduled_execution``'s input: the occurrence of the job to run. ``occurrence``
    stays the text the orchestration sent: the execution's id derives from it."""

    job_id: str
    occurrence: str

    @classmethod
    def at(cls, job_id: str, occurrence: dt.datetime) -> ScheduledRun:
        return cls(job_id, format_utc(occurrence))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ScheduledRun:
        return cls(str(document["job_id"]), str(document["occurrence"]))


@dataclasses.dataclass(frozen=True)
class Delivery:
    """A ``notification_delivery`` orchestration's input (its first try's ``attempt``), and
    each try's, ``deliver_notification``'s."""

    job_execution_id: str
    delivery_id: str
    attempt: int = 1

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Delivery:
        return cls(
            str(document["job_execution_id"]),
            str(document["delivery_id"]),
            int(document.get("attempt", 1)),
        )


@dataclasses.dataclass(frozen=True)
class DeliveryAnswer:
    """``deliver_notification``'s answer: whether the notification is delivered, and
    ``retry_at`` (ISO time) when the try failed and another may follow."""

    delivered: bool
    retry_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"delivered": self.delivered}
        if self.retry_at:
            document["retry_at"] = self.retry_at
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DeliveryAnswer:
        return cls(bool(document.get("delivered")), document.get("retry_at") or None)


@dataclasses.dataclass(frozen=True)
class DeliveryOutcome:
    """A ``notification_delivery`` orchestration's output: delivered or not, after how many
    tries."""

    delivered: bool
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DeliveryOutcome:
        return cls(bool(document.get("delivered")), int(document.get("attempts", 0)))
