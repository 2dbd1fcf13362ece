"""Telemetry: traces, metrics and logs of executions, exported where the settings say.

- ``APPLICATIONINSIGHTS_CONNECTION_STRING``: Application Insights (the exporters of
  ``azure-monitor-opentelemetry``);
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the other ``OTEL_EXPORTER_OTLP_*``): OTLP over HTTP;
- ``SQLFLEET_PROMETHEUS_METRICS`` = ``true``: Prometheus text at ``/api/metrics``.

With none set, nothing is exported and the hooks below return at their first line: no
OpenTelemetry module is even imported (``sqlfleet.telemetry.pipeline`` does that, once, when a
setting asks for it). The hooks never raise: telemetry must not change what an execution does.

The trace of an execution: ``job execution`` → ``step N`` → one database client span per target
attempt. Spans are written when what they describe has ended, with its real start and end times
and ids derived from SQL Fleet's ids (``sqlfleet.telemetry.ids``), so activities on any instance
and the script processes' work (timed in the child, written by the parent) land in one tree.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlfleet.settings import PROMETHEUS_METRICS
from sqlfleet.telemetry.ids import SpanIds

if TYPE_CHECKING:
    from sqlfleet.telemetry.pipeline import Pipeline

APPLICATION_INSIGHTS = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
PROMETHEUS = PROMETHEUS_METRICS
_TRUE = {"1", "true", "yes", "on"}

logger = logging.getLogger("sqlfleet.telemetry")
_lock = threading.Lock()
_UNSET: Any = object()
_pipeline: Pipeline | None = _UNSET


def wanted(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Whether any exporter setting is set."""
    env = os.environ if environ is None else environ
    return bool(
        env.get(APPLICATION_INSIGHTS, "").strip()
        or env.get(OTLP_ENDPOINT, "").strip()
        or env.get(PROMETHEUS, "").strip().lower() in _TRUE
    )


def active() -> Pipeline | None:
    """The running pipeline, set up from the environment on first use; None when off."""
    global _pipeline
    pipeline = _pipeline
    if pipeline is not _UNSET:
        return pipeline
    with _lock:
        if _pipeline is _UNSET:
            _pipeline = None
            if wanted():
                try:
                    from sqlfleet.telemetry.pipeline import pipeline_from_environment

                    _pipeline = pipeline_from_environment()
                except Exception:  # noqa: BLE001 - a broken exporter must not stop the app
                    logger.exception("telemetry is off: its exporters could not be set up")
        return _pipeline


def install(pipeline: Pipeline | None) -> None:
    """Use ``pipeline`` from now on (tests; ``None`` turns telemetry off)."""
    global _pipeline
    with _lock:
        previous, _pipeline = _pipeline, pipeline
    if previous not in (_UNSET, None) and previous is not pipeline:
        previous.shutdown()


def reset() -> None:
    """Forget the pipeline; the next hook reads the environment again."""
    install(None)
    global _pipeline
    _pipeline = _UNSET


class _Quietly:
    """Swallows (and logs) what a hook raises."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: object, tb: object) -> bool:
        if error is not None:
            logger.warning("telemetry: %s failed", self.what, exc_info=True)
        return True


# Hooks called by the activities. Each is a no-op when telemetry is off.


def attempt_ended(
    document: dict[str, Any],
    target: Any,
    step: Any,
    attempt: int,
    outcome: Any,
    started: dt.datetime,
    ended: dt.datetime,
    lifecycle: str,
    *,
    script_process: bool = False,
) -> None:
    """One attempt of a target ended (``target`` the ``sqlfleet.targets.StartedTarget``,
    ``step`` the ``JobStep``, ``outcome`` the ``ScriptOutcome`` or None when it never ran)."""
    pipeline = active()
    if pipeline is None:
        return
    from sqlfleet.telemetry.ids import step_parent

    with _Quietly("recording an attempt"):
        pipeline.attempt(
            step_parent(document),
            document,
            target,
            step,
            attempt,
            outcome,
            started,
            ended,
            lifecycle,
            script_process,
        )


def turn_ended(
    document: dict[str, Any],
    step: Any,
    runs: Sequence[tuple[Any, Any]],
    ends: Sequence[Any],
    *,
    script_process: bool,
) -> None:
    """The first attempts of a chunk's turn ended: ``runs`` (target, ScriptRun), ``ends`` the
    matching ``AttemptEnd``."""
    pipeline = active()
    if pipeline is None:
        return
    for (target, run), end in zip(runs, ends, strict=True):
        attempt_ended(
            document,
            target,
            step,
            1,
            run.outcome,
            run.started,
            run.ended,
            end.lifecycle.value,
            script_process=script_process,
        )


def step_ended(store: Any, step_row: Any, document: dict[str, Any]) -> None:
    """A step row reached its end (``document`` the activity's input, for its traceparent)."""
    pipeline = active()
    if pipeline is None:
        return
    from sqlfleet.telemetry.ids import step_parent

    with _Quietly("recording a step"):
        targets = store.list_target_executions(step_row.job_execution_id, step_id=step_row.step_id)
        pipeline.step(step_parent(document), step_row, targets)


def execution_ended(execution: Any) -> None:
    """A job execution reached its end."""
    pipeline = active()
    if pipeline is None:
        return
    with _Quietly("recording an execution"):
        pipeline.execution(execution)


def schedule_lag(job_name: str, occurrence: dt.datetime, now: dt.datetime) -> None:
    """A scheduled occurrence started ``now`` (lag: how late)."""
    pipeline = active()
    if pipeline is None:
        return
    with _Quietly("recording schedule lag"):
        pipeline.schedule_lag(job_name, max(0.0, (now - occurrence).total_seconds()))


class _CountingSlot:
    """A slot of the agent-wide cap that counts who waits for it and who holds it."""

    __slots__ = ("_pipeline", "_semaphore")

    def __init__(self, semaphore: threading.BoundedSemaphore, pipeline: Pipeline) -> None:
        self._semaphore = semaphore
        self._pipeline = pipeline

    def __enter__(self) -> bool:
        self._pipeline.waiting_for_slot(1)
        try:
            self._semaphore.acquire()
        finally:
            self._pipeline.waiting_for_slot(-1)
        self._pipeline.in_flight(1)
        return True

    def __exit__(self, *exc: object) -> None:
        self._pipeline.in_flight(-1)
        self._semaphore.release()


def slot(
    semaphore: threading.BoundedSemaphore,
) -> threading.BoundedSemaphore | _CountingSlot:
    """``semaphore`` itself when telemetry is off; else a slot that counts in-flight target
    connections and targets waiting for one."""
    pipeline = active()
    return semaphore if pipeline is None else _CountingSlot(semaphore, pipeline)


@contextlib.contextmanager
def joined(parent: SpanIds | None) -> Iterator[None]:
    """Log records written inside carry the trace and span ids of ``parent``."""
    pipeline = active()
    if pipeline is None or parent is None:
        yield
        return
    with pipeline.joined(parent):
        yield


@contextlib.contextmanager
def joined_step(document: dict[str, Any]) -> Iterator[None]:
    """``joined`` on the step span of an activity's input (``traceparent``, else its ids)."""
    pipeline = active()
    if pipeline is None:
        yield
        return
    from sqlfleet.telemetry.ids import step_parent

    with pipeline.joined(step_parent(document)):
        yield


def prometheus_text() -> bytes | None:
    """The metrics in Prometheus' text format, or None when ``SQLFLEET_PROMETHEUS_METRICS`` is
    not on."""
    pipeline = active()
    return None if pipeline is None else pipeline.prometheus_text()
