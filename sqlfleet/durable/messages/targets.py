"""The messages that move a step's targets: attempts, chunks, batches, lanes and retry lanes
(see ``sqlfleet.durable.messages``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlfleet.durable.messages.executions import StepRef


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
