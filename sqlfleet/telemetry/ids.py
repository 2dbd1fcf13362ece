"""Trace and span ids derived from SQL Fleet's own ids, so every part of an execution finds its
place in the execution's trace without being told: the orchestrators (which must stay
deterministic and do no I/O) compute a W3C ``traceparent`` from the instance id and hand it to
their activities, and an activity that got none (an input written before telemetry existed)
computes the same one.

- the trace id is the execution id (a UUID is 128 bits, as a trace id is);
- the execution's span, a step's span and a target attempt's span have ids hashed from the
  execution id, the step id, the target's ordinal and the attempt number.

Pure functions of text: no OpenTelemetry import here (the orchestrators import this module).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class SpanIds:
    """A span's place: its trace and its own id, as integers (what OpenTelemetry takes)."""

    trace_id: int
    span_id: int

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` header of this span (sampled)."""
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-01"


def trace_id(job_execution_id: str) -> int:
    """The execution's trace id: its UUID's 128 bits (never zero for a UUID4/5)."""
    try:
        value = uuid.UUID(job_execution_id).int
    except ValueError:
        value = int.from_bytes(hashlib.sha256(job_execution_id.encode()).digest()[:16], "big")
    return value or 1


def _span_id(*parts: object) -> int:
    digest = hashlib.sha256("/".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def execution_span(job_execution_id: str) -> SpanIds:
    return SpanIds(trace_id(job_execution_id), _span_id(job_execution_id, "execution"))


def step_span(job_execution_id: str, step_id: int) -> SpanIds:
    return SpanIds(trace_id(job_execution_id), _span_id(job_execution_id, "step", step_id))


def attempt_span(job_execution_id: str, step_id: int, ordinal: int, attempt: int) -> SpanIds:
    return SpanIds(
        trace_id(job_execution_id),
        _span_id(job_execution_id, "step", step_id, "target", ordinal, "attempt", attempt),
    )


def step_traceparent(job_execution_id: str, step_id: int) -> str:
    """What an orchestrator passes its activities of a step (``traceparent`` in their input)."""
    return step_span(job_execution_id, step_id).traceparent


def parse_traceparent(text: object) -> SpanIds | None:
    """The ids of a W3C ``traceparent``, or None when ``text`` is not one."""
    match = _TRACEPARENT.match(text) if isinstance(text, str) else None
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return SpanIds(int(match.group(1), 16), int(match.group(2), 16))


def step_parent(document: dict[str, object]) -> SpanIds:
    """The span an activity of a step joins: the input's ``traceparent``, else the one its
    ids give (the same, unless the input was written by an older version)."""
    given = parse_traceparent(document.get("traceparent"))
    if given is not None:
        return given
    return step_span(str(document["job_execution_id"]), int(str(document["step_id"])))
