"""The messages the orchestrators and activities pass each other, one frozen type each.

Durable Functions carries them as JSON: ``to_json()`` gives the document a function receives and
``from_json()`` reads it back, field by field (an orchestrator's history may hold documents an
older version wrote, so a field added later has a default). Activities annotate their input as a
bare ``dict`` (the Python worker refuses ``dict[str, Any]`` on a binding) and read it here first.

A step's messages all start with its ``StepRef`` fields (``job_execution_id``, ``step_id`` and,
when the execution is traced, ``traceparent``), flattened into the document as before.

The path of a first attempt: ``job_execution`` starts from an ``ExecutionStart``;
``begin_execution`` answers a ``Plan`` (with the first step's ``Expansion``), the execution runs
``TargetRun`` activities (or ``step_batch`` children with a ``BatchInput``, ``TargetRange``
chunks, or ``step_lane`` lanes with a ``LaneInput``), each answering an ``AttemptAnswer``; a
target that must retry gets a ``target_retry`` orchestration (``RetryInput``), which ends with a
``RetryEnd`` for ``settle_target``; a cancelled lane hands the rest of its ordinals to
``cancel_targets`` (``CancelRange``); ``finish_step`` takes a ``StepEnd`` and answers a
``StepOutcome``, which holds the ``ExecutionEnd`` when the step ended the execution; otherwise
``finish_execution`` (``ExecutionFinish``) or, when the orchestration cannot go on,
``end_execution`` (``ExecutionAbort``) answers it.

Beside executions: a schedule's orchestration carries a ``ScheduleState``, reads a
``LoadedSchedule`` and starts a ``ScheduledRun``; a notification's orchestration starts from a
``Delivery``, makes tries that answer a ``DeliveryAnswer`` and ends with a ``DeliveryOutcome``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlfleet.times import format_utc, parse_utc


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclasses.dataclass(frozen=True)
class StepRef:
    """Which step of which execution, and the step's span in the execution's trace."""

    job_execution_id: str
    step_id: int
    traceparent: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"job_execution_id": self.job_execution_id,
                                    "step_id": self.step_id}  # fmt: skip
        if self.traceparent:
            document["traceparent"] = self.traceparent
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> StepRef:
        return cls(
            str(document["job_execution_id"]),
            int(document["step_id"]),
            document.get("traceparent") or None,
        )


@dataclasses.dataclass(frozen=True)
class Expansion:
    """``expand_step``'s answer: how many targets the step has, whether all are SQLite files of
    this host (``local``), and whether expanding failed (the step has ended Failed)."""

    targets: int
    local: bool = False
    failed: bool = False

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"targets": self.targets}
        if self.local:
            document["local"] = True
        if self.failed:
            document["failed"] = True
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Expansion:
        return cls(
            int(document.get("targets", 0)),
            bool(document.get("local")),
            bool(document.get("failed")),
        )


@dataclasses.dataclass(frozen=True)
class PlannedStep:
    step_id: int
    max_parallelism: int | None = None
    # The step's ``on_failure`` (``fail`` or ``continue``): whether its failure stops the job.
    on_failure: str = "fail"


@dataclasses.dataclass(frozen=True)
class Plan:
    """``begin_execution``'s answer: the steps in order, how their targets are spread over
    activities, and the first step's expansion (None from an older version: expand it)."""

    steps: tuple[PlannedStep, ...]
    batch_size: int = 100
    chunk_size: int = 10
    local_chunk_size: int = 100
    chunk_from: int = 500
    first: Expansion | None = None
    # Steps of ``spread_from`` targets or more (below ``chunk_from``) go to about ``spread``
    # activities of a few targets each; 0: never (a plan of an older version).
    spread_from: int = 0
    spread: int = 16

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "batch_size": self.batch_size,
            "chunk_size": self.chunk_size,
            "local_chunk_size": self.local_chunk_size,
            "chunk_from": self.chunk_from,
            "spread_from": self.spread_from,
            "spread": self.spread,
            "steps": [dataclasses.asdict(step) for step in self.steps],
        }
        if self.first is not None:
            document["first"] = self.first.to_json()
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Plan:
        first = document.get("first")
        return cls(
            steps=tuple(
                PlannedStep(
                    int(step["step_id"]),
                    _optional_int(step.get("max_parallelism")),
                    str(step.get("on_failure") or "fail"),
                )
                for step in document["steps"]
            ),
            batch_size=max(1, int(document.get("batch_size", 100))),
            chunk_size=max(1, int(document.get("chunk_size", 10))),
            local_chunk_size=max(1, int(document.get("local_chunk_size", 100))),
            chunk_from=int(document.get("chunk_from", 500)),
            first=None if first is None else Expansion.from_json(first),
            spread_from=int(document.get("spread_from", 0)),
            spread=max(1, int(document.get("spread", 16))),
        )

    def chunk_for(self, count: int, local: bool) -> int:
        """Targets per ``run_targets`` activity for a step of ``count`` (1: one ``run_target``
        each): big steps in chunks of ``chunk_size`` (``local_chunk_size`` for SQLite files of
        the host), mid-size ones spread over about ``spread`` activities."""
        if count >= self.chunk_from:
            return self.local_chunk_size if local else self.chunk_size
        if self.spread_from and count >= self.spread_from:
            return min(self.chunk_size, max(1, -(-count // self.spread)))
        return 1


@dataclasses.dataclass(frozen=True)
class TargetRun:
    """``run_target``'s input: one attempt of one target. With ``retry_lane`` the activity
    starts the target's retry orchestration itself when the attempt must be retried."""

    step: StepRef
    ordinal: int
    attempt: int = 1
    retry_lane: bool = False

    def to_json(self) -> dict[str, Any]:
        document = {**self.step.to_json(), "ordinal": self.ordinal, "attempt": self.attempt}
        if self.retry_lane:
            document["retry_lane"] = True
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TargetRun:
        return cls(
            StepRef.from_json(document),
            int(document["ordinal"]),
            int(document.get("attempt", 1)),
            bool(document.get("retry_lane")),
        )


@dataclasses.dataclass(frozen=True)
class AttemptAnswer:
    """``run_target``'s answer: how the attempt ended; ``retry_at`` (ISO time) when the target
    waits for a retry, ``canceled`` when the execution was cancelled, ``deferred`` when no
    target slot was free and nothing ran (ask again at ``retry_at``)."""

    lifecycle: str | None
    attempt: int
    retry_at: str | None = None
    canceled: bool = False
    deferred: bool = False

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"lifecycle": self.lifecycle, "attempt": self.attempt}
        if self.retry_at:
            document["retry_at"] = self.retry_at
        if self.canceled:
            document["canceled"] = True
        if self.deferred:
            document["deferred"] = True
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> AttemptAnswer:
        return cls(
            document.get("lifecycle"),
            int(document.get("attempt", 0)),
            document.get("retry_at") or None,
            bool(document.get("canceled")),
            bool(document.get("deferred")),
        )


@dataclasses.dataclass(frozen=True)
class TargetRange:
    """``run_targets``' input: first attempts of ordinals ``start..stop-1`` in turns."""

    step: StepRef
    start: int
    stop: int
    local: bool = False

    def to_json(self) -> dict[str, Any]:
        document = {**self.step.to_json(), "start": self.start, "stop": self.stop}
        if self.local:
            document["local"] = True
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TargetRange:
        return cls(
            StepRef.from_json(document),
            int(document["start"]),
            int(document["stop"]),
            bool(document.get("local")),
        )


@dataclasses.dataclass(frozen=True)
class StepEnd:
    """``finish_step``'s input: the step, why it could not finish (``error``: a child or an
    activity failed), and whether it is the ``last`` step; the execution then ends with it,
    with ``execution_error`` (the last such error of any step) as its message."""

    step: StepRef
    error: str | None = None
    last: bool = False
    execution_error: str | None = None
    # The step's ``on_failure`` from the plan (None from an older version: read the job's).
    on_failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = self.step.to_json()
        if self.error is not None:
            document["error"] = self.error
        document["last"] = self.last
        document["execution_error"] = self.execution_error
        if self.on_failure is not None:
            document["on_failure"] = self.on_failure
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> StepEnd:
        return cls(
            StepRef.from_json(document),
            document.get("error") or None,
            bool(document.get("last")),
            document.get("execution_error") or None,
            document.get("on_failure") or None,
        )


@dataclasses.dataclass(frozen=True)
class ExecutionEnd:
    """How an execution ended (``finish_execution``, ``end_execution``, a last ``finish_step``);
    also the job execution orchestration's output."""

    job_execution_id: str
    lifecycle: str
    last_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ExecutionEnd:
        return cls(
            str(document["job_execution_id"]),
            str(document["lifecycle"]),
            document.get("last_message"),
        )


@dataclasses.dataclass(frozen=True)
class StepOutcome:
    """``finish_step``'s answer: the step's lifecycle, whether the job stops here, whether
    retry lanes still hold targets (``pending``: wait for ``step_settled``), and the
    ``execution``'s end when the step ended it."""

    lifecycle: str | None = None
    stop: bool = False
    pending: bool = False
    execution: ExecutionEnd | None = None

    def to_json(self) -> dict[str, Any]:
        if self.pending:
            return {"pending": True}
        document: dict[str, Any] = {"lifecycle": self.lifecycle, "stop": self.stop}
        if self.execution is not None:
            document["execution"] = self.execution.to_json()
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> StepOutcome:
        execution = document.get("execution")
        return cls(
            document.get("lifecycle"),
            bool(document.get("stop")),
            bool(document.get("pending")),
            None if not execution else ExecutionEnd.from_json(execution),
        )


@dataclasses.dataclass(frozen=True)
class RetryInput:
    """A ``target_retry`` orchestration's input: the target, its next attempt and when."""

    step: StepRef
    ordinal: int
    attempt: int
    not_before: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.step.to_json(), "ordinal": self.ordinal, "attempt": self.attempt,
                "not_before": self.not_before}  # fmt: skip

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RetryInput:
        return cls(
            StepRef.from_json(document),
            int(document["ordinal"]),
            int(document.get("attempt", 2)),
            document.get("not_before") or None,
        )


@dataclasses.dataclass(frozen=True)
class ExecutionStart:
    """A ``job_execution`` orchestration's input."""

    job_execution_id: str

    def to_json(self) -> dict[str, Any]:
        return {"job_execution_id": self.job_execution_id}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ExecutionStart:
        return cls(str(document["job_execution_id"]))


@dataclasses.dataclass(frozen=True)
class BatchInput:
    """A ``step_batch`` orchestration's input: first attempts of ordinals ``start..stop-1``,
    one ``run_target`` each, or with ``chunk`` > 1 one ``run_targets`` per ``chunk`` ordinals
    (passing ``local`` on); ``ranges``: the chunks still to run when it continued as new."""

    step: StepRef
    start: int
    stop: int
    chunk: int = 1
    local: bool = False
    ranges: tuple[tuple[int, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {**self.step.to_json(), "start": self.start,
                                    "stop": self.stop, "chunk": self.chunk}  # fmt: skip
        if self.local:
            document["local"] = True
        if self.ranges:
            document["ranges"] = [[first, last] for first, last in self.ranges]
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> BatchInput:
        return cls(
            StepRef.from_json(document),
            int(document["start"]),
            int(document["stop"]),
            int(document.get("chunk") or 1),
            bool(document.get("local")),
            tuple((int(first), int(last)) for first, last in document.get("ranges") or ()),
        )

    def chunks(self) -> tuple[tuple[int, int], ...]:
        """The ``(start, stop)`` ordinals of each ``run_targets`` still to run."""
        return self.ranges or tuple(
            (first, min(self.stop, first + self.chunk))
            for first in range(self.start, self.stop, self.chunk)
        )


@dataclasses.dataclass(frozen=True)
class LaneInput:
    """A ``step_lane`` orchestration's input: ordinals ``next, next + stride, ...`` below
    ``stop``, the first of them at ``attempt``, not before ``not_before`` (ISO time).
    ``retry_lane``: the document is a retry lane an older version started as a ``step_lane``
    (its target is ``next``); it runs as ``target_retry`` (``as_retry``)."""

    step: StepRef
    next: int
    stride: int
    stop: int
    attempt: int = 1
    not_before: str | None = None
    retry_lane: bool = False

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {**self.step.to_json(), "next": self.next,
                                    "stride": self.stride, "stop": self.stop,
                                    "attempt": self.attempt}  # fmt: skip
        if self.not_before:
            document["not_before"] = self.not_before
        if self.retry_lane:
            document["retry_lane"] = True
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> LaneInput:
        return cls(
            StepRef.from_json(document),
            int(document["next"]),
            int(document["stride"]),
            int(document["stop"]),
            int(document.get("attempt", 1)),
            document.get("not_before") or None,
            bool(document.get("retry_lane")),
        )

    def as_retry(self) -> RetryInput:
        return RetryInput(self.step, self.next, self.attempt, self.not_before)


@dataclasses.dataclass(frozen=True)
class CancelRange:
    """``cancel_targets``' input: a cancelled lane's ordinals ``next, next + stride, ...``
    below ``stop``, which never ran and end Canceled."""

    step: StepRef
    next: int
    stride: int
    stop: int

    def to_json(self) -> dict[str, Any]:
        return {**self.step.to_json(), "next": self.next, "stride": self.stride,
                "stop": self.stop}  # fmt: skip

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> CancelRange:
        return cls(
            StepRef.from_json(document),
            int(document["next"]),
            int(document["stride"]),
            int(document["stop"]),
        )

    def ordinals(self) -> range:
        return range(self.next, self.stop, self.stride)


@dataclasses.dataclass(frozen=True)
class RetryEnd:
    """``settle_target``'s input: a retry lane of target ``ordinal`` ended, with ``error`` when
    the lane itself failed."""

    step: StepRef
    ordinal: int
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.step.to_json(), "ordinal": self.ordinal, "error": self.error}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RetryEnd:
        return cls(
            StepRef.from_json(document), int(document["ordinal"]), document.get("error") or None
        )


@dataclasses.dataclass(frozen=True)
class ExecutionFinish:
    """``finish_execution``'s input: the execution, and ``message`` when a step could not
    finish (it becomes the execution's). Without a message the document is the bare id."""

    job_execution_id: str
    message: str | None = None

    def to_json(self) -> str | dict[str, Any]:
        if self.message is None:
            return self.job_execution_id
        return {"job_execution_id": self.job_execution_id, "message": self.message}

    @classmethod
    def from_json(cls, document: Any) -> ExecutionFinish:
        if not isinstance(document, Mapping):
            return cls(str(document))
        return cls(str(document["job_execution_id"]), document.get("message"))


@dataclasses.dataclass(frozen=True)
class ExecutionAbort:
    """``end_execution``'s input: the orchestration cannot go on, so the execution and whatever
    of it is unfinished end ``lifecycle`` with ``message``."""

    job_execution_id: str
    lifecycle: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ExecutionAbort:
        return cls(
            str(document["job_execution_id"]),
            str(document["lifecycle"]),
            str(document["message"]),
        )


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
