"""The messages of an execution and its steps (see ``sqlfleet.durable.messages``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


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
    # The step when ``expand_step`` ran it to its end itself (see ``StepStart``): its
    # ``finish_step`` answer; None: run it in the orchestration.
    ran: StepOutcome | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"targets": self.targets}
        if self.local:
            document["local"] = True
        if self.failed:
            document["failed"] = True
        if self.ran is not None:
            document["ran"] = self.ran.to_json()
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Expansion:
        ran = document.get("ran")
        return cls(
            int(document.get("targets", 0)),
            bool(document.get("local")),
            bool(document.get("failed")),
            None if ran is None else StepOutcome.from_json(ran),
        )


@dataclasses.dataclass(frozen=True)
class StepStart:
    """``expand_step``'s input: the step, and ``finish``, what its ``finish_step`` would be
    given if the step ended now (None from an older version): with it, a small step runs and
    ends within ``expand_step`` (``Expansion.ran``)."""

    step: StepRef
    finish: StepEnd | None = None

    def to_json(self) -> dict[str, Any]:
        document = self.step.to_json()
        if self.finish is not None:
            document["finish"] = self.finish.to_json()
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> StepStart:
        finish = document.get("finish")
        return cls(StepRef.from_json(document), None if not finish else StepEnd.from_json(finish))


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
    # Steps of up to ``batch_size`` targets without a parallelism bound run their activities
    # from the execution itself, and a small step of SQLite files on the host runs in
    # ``local_parts`` chunks; 0: one ``run_target`` per target in place, bigger steps in
    # ``step_batch`` children (a plan of an older version).
    local_parts: int = 0
    # Steps of SQLite files on the host go to about ``local_spread`` chunks (the local chunks
    # this host runs at once, ``sqlfleet.scriptruns.LOCAL_CHUNKS_AT_ONCE``: more would wait
    # for one another in waves); 0: ``spread`` (a plan of an older version).
    local_spread: int = 0
    # A step goes to at most about ``max_batches`` step_batch children: bigger steps get
    # bigger batches (whole chunks each), so that the execution's own history, which each
    # child's end replays, stays a few hundred events long; 0: batches of ``batch_size``
    # whatever the size (a plan of an older version).
    max_batches: int = 0
    # The first step when ``begin_execution`` ran it to its end itself (see ``StepStart``):
    # its ``finish_step`` answer; None: run it here.
    ran: StepOutcome | None = None

    def batch_span(self, count: int, chunk: int) -> int:
        """Targets per step_batch of a step of ``count`` in chunks of ``chunk``."""
        if not self.max_batches or count <= self.batch_size * self.max_batches:
            return self.batch_size
        chunks = -(-count // self.max_batches // max(1, chunk))
        return max(self.batch_size, chunks * max(1, chunk))

    def chunk_for(self, count: int, local: bool) -> int:
        """Targets per ``run_targets`` activity for a step of ``count`` (1: one ``run_target``
        each): big steps in chunks of ``chunk_size`` (``local_chunk_size`` for SQLite files of
        the host), mid-size ones spread over about ``spread`` activities (local ones over
        ``local_spread``), small local ones over ``local_parts``."""
        if count >= self.chunk_from:
            return self.local_chunk_size if local else self.chunk_size
        if self.spread_from and count >= self.spread_from:
            if local and self.local_spread:
                return min(self.local_chunk_size, -(-count // self.local_spread))
            return min(self.chunk_size, max(1, -(-count // self.spread)))
        if local and self.local_parts and count > 1:
            return -(-count // self.local_parts)
        return 1

    def in_place(self, count: int, max_parallelism: int | None, local: bool) -> bool:
        """Whether a step's first attempts run as activities of the execution itself (no
        sub-orchestration): steps without a parallelism bound of up to ``batch_size`` targets,
        and steps of SQLite files on the host whose chunks number no more than
        ``local_spread`` (more would not find target slots at once, and each wave would wait
        for the slowest chunk of the last). With a plan of an older version, only steps of one
        ``run_target`` each."""
        if max_parallelism:
            return False
        if not self.local_parts:
            return count <= self.batch_size and self.chunk_for(count, False) == 1
        if count <= self.batch_size:
            return True
        most = self.local_spread or self.spread
        return local and -(-count // self.chunk_for(count, local)) <= most

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "batch_size": self.batch_size,
            "chunk_size": self.chunk_size,
            "local_chunk_size": self.local_chunk_size,
            "chunk_from": self.chunk_from,
            "spread_from": self.spread_from,
            "spread": self.spread,
            "local_parts": self.local_parts,
            "local_spread": self.local_spread,
            "max_batches": self.max_batches,
            "steps": [dataclasses.asdict(step) for step in self.steps],
        }
        if self.first is not None:
            document["first"] = self.first.to_json()
        if self.ran is not None:
            document["ran"] = self.ran.to_json()
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Plan:
        first, ran = document.get("first"), document.get("ran")
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
            local_parts=max(0, int(document.get("local_parts", 0))),
            local_spread=max(0, int(document.get("local_spread", 0))),
            max_batches=max(0, int(document.get("max_batches", 0))),
            ran=None if ran is None else StepOutcome.from_json(ran),
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
class ExecutionStart:
    """A ``job_execution`` orchestration's input."""

    job_execution_id: str

    def to_json(self) -> dict[str, Any]:
        return {"job_execution_id": self.job_execution_id}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ExecutionStart:
        return cls(str(document["job_execution_id"]))


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
