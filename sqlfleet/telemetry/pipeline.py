"""The OpenTelemetry side of ``sqlfleet.telemetry``: providers of SQL Fleet's own (never the
process-wide globals, so nothing else in the process is instrumented or slowed), exporters by
settings, the instruments, and how an execution's spans and log records are written.

Imported only when a telemetry setting is on.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from sqlfleet.models.executions import TargetExecution
from sqlfleet.redaction import redact
from sqlfleet.telemetry import _TRUE, APPLICATION_INSIGHTS, OTLP_ENDPOINT, PROMETHEUS
from sqlfleet.telemetry.ids import SpanIds, attempt_span, execution_span
from sqlfleet.telemetry.logs import OtelLogHandler

SCOPE = "sqlfleet"
AUTHENTICATION_STRING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
# OpenTelemetry's db.system.name values for SQL Fleet's engines.
DB_SYSTEMS = {
    "sqlserver": "microsoft.sql_server",
    "postgresql": "postgresql",
    "mysql": "mysql",
    "sqlite": "sqlite",
}
LEGACY_DB_SYSTEMS = {"sqlserver": "mssql", "postgresql": "postgresql", "mysql": "mysql"}
DEFAULT_PORTS = {"sqlserver": 1433, "postgresql": 5432, "mysql": 3306}
QUERY_TEXT_LIMIT = 4096
ERROR_TEXT_LIMIT = 500
_FIRST_KEYWORD = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*([A-Za-z]+)", re.DOTALL)
_TERMINAL = {"Succeeded", "SucceededWithSkipped", "Failed", "TimedOut", "Canceled", "Skipped"}
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class _ChosenIds(IdGenerator):
    """Random ids, except for the span being started when ``chosen`` holds its ids."""

    def __init__(self) -> None:
        self.chosen: contextvars.ContextVar[SpanIds | None] = contextvars.ContextVar(
            "sqlfleet_span_ids", default=None
        )
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        chosen = self.chosen.get()
        return chosen.span_id if chosen else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        chosen = self.chosen.get()
        return chosen.trace_id if chosen else self._random.generate_trace_id()


def _nanoseconds(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp() * 1_000_000_000)


def _remote(ids: SpanIds) -> otel_context.Context:
    parent = SpanContext(ids.trace_id, ids.span_id, is_remote=True, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(parent), otel_context.Context())


def operation_name(command: str) -> str:
    """The first keyword of a script, upper case (``CREATE``, ``SELECT``, ...), or ``BATCH``."""
    match = _FIRST_KEYWORD.match(command or "")
    return match.group(1).upper() if match else "BATCH"


class Pipeline:
    """Providers, instruments and writers. ``span_processors``, ``metric_readers`` and
    ``log_exporters`` say where things go; ``prometheus`` adds the ``/api/metrics`` reader."""

    def __init__(
        self,
        *,
        span_processors: Sequence[SpanProcessor] = (),
        metric_readers: Sequence[MetricReader] = (),
        log_exporters: Sequence[LogRecordExporter] = (),
        prometheus: bool = False,
        resource: Resource | None = None,
        legacy_db_attributes: bool = False,
    ) -> None:
        # Application Insights' exporter still reads the database conventions before 1.26
        # (db.system, db.name, db.statement, net.peer.*) to draw a SQL dependency.
        self.legacy_db_attributes = legacy_db_attributes
        resource = resource or Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME") or "sqlfleet"}
        )
        self._ids = _ChosenIds()
        self.tracer_provider = TracerProvider(resource=resource, id_generator=self._ids)
        for processor in span_processors:
            self.tracer_provider.add_span_processor(processor)
        self.tracer = self.tracer_provider.get_tracer(SCOPE)
        readers = list(metric_readers)
        self._registry: Any = None
        if prometheus:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry(auto_describe=True)
            readers.append(PrometheusMetricReader(registry=self._registry))
        self.meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        meter = self.meter_provider.get_meter(SCOPE)
        self.executions_ended = meter.create_counter(
            "sqlfleet.executions.ended", "{execution}", "job executions that ended, by lifecycle"
        )
        self.targets_ended = meter.create_counter(
            "sqlfleet.target_executions.ended",
            "{target}",
            "target executions that ended, by job, step, engine and lifecycle",
        )
        self.attempt_duration = meter.create_histogram(
            "sqlfleet.target.attempt.duration",
            "s",
            "how long one attempt on one target took",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.retries = meter.create_counter(
            "sqlfleet.target.retries", "{retry}", "attempts that ended waiting for a retry"
        )
        self.connections = meter.create_up_down_counter(
            "sqlfleet.target.connections.in_flight",
            "{connection}",
            "target connections open now (the agent-wide cap bounds them)",
        )
        self.waiting = meter.create_up_down_counter(
            "sqlfleet.targets.waiting_for_slot",
            "{target}",
            "targets waiting for a slot under SQLFLEET_MAX_CONCURRENT_TARGETS",
        )
        self.lag = meter.create_histogram(
            "sqlfleet.schedule.lag",
            "s",
            "how late a scheduled occurrence started",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.logger_provider: LoggerProvider | None = None
        self._log_handler: logging.Handler | None = None
        if log_exporters:
            self.logger_provider = LoggerProvider(resource=resource)
            for exporter in log_exporters:
                self.logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
            handler = OtelLogHandler(self.logger_provider)
            self._log_handler = handler
            logging.getLogger("sqlfleet").addHandler(handler)

    # Spans.

    def _span(
        self,
        ids: SpanIds,
        parent: SpanIds | None,
        name: str,
        kind: SpanKind,
        start: dt.datetime,
        end: dt.datetime,
        attributes: dict[str, Any],
        error: str | None,
    ) -> None:
        token = self._ids.chosen.set(ids)
        try:
            context = _remote(parent) if parent else otel_context.Context()
            span = self.tracer.start_span(
                name,
                context=context,
                kind=kind,
                attributes={k: v for k, v in attributes.items() if v is not None},
                start_time=_nanoseconds(start),
            )
        finally:
            self._ids.chosen.reset(token)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error[:ERROR_TEXT_LIMIT]))
        span.end(end_time=_nanoseconds(max(end, start)))

    def attempt(
        self,
        parent: SpanIds,
        document: dict[str, Any],
        target: Any,
        step: Any,
        attempt: int,
        outcome: Any,
        started: dt.datetime,
        ended: dt.datetime,
        lifecycle: str,
        script_process: bool,
    ) -> None:
        execution_id = str(document["job_execution_id"])
        ordinal, where = target.ordinal, target.target
        engine, database, server, port = (
            where.engine.value,
            where.database,
            where.server,
            where.port,
        )
        job_name = target.job_name
        operation = operation_name(step.command)
        sqlstate = getattr(outcome, "sqlstate", None)
        error_type = None
        error = None
        if outcome is not None and not outcome.succeeded:
            error = redact(outcome.error or lifecycle)
            error_type = (
                "timeout" if outcome.timed_out else "canceled" if outcome.canceled else sqlstate
            ) or "error"
        elif outcome is None:
            error, error_type = "canceled before it ran", "canceled"
        attributes = {
            "db.system.name": DB_SYSTEMS.get(engine, engine),
            "db.namespace": database,
            "db.operation.name": operation,
            # The step's command as written: script variables are placeholders, never values.
            "db.query.text": redact(step.command)[:QUERY_TEXT_LIMIT],
            "server.address": None if engine == "sqlite" else server,
            "server.port": None if engine == "sqlite" else (port or DEFAULT_PORTS.get(engine)),
            "error.type": error_type,
            "db.response.status_code": sqlstate,
            "sqlfleet.job.name": job_name,
            "sqlfleet.execution.id": execution_id,
            "sqlfleet.step.id": step.step_id,
            "sqlfleet.step.name": step.step_name,
            "sqlfleet.target.ordinal": ordinal,
            "sqlfleet.target.attempt": attempt,
            "sqlfleet.target.retries": attempt - 1,
            "sqlfleet.target.lifecycle": lifecycle,
            "sqlfleet.durable.instance_id": execution_id,
            "sqlfleet.script_process": script_process or None,
        }
        if self.legacy_db_attributes:
            attributes.update(
                {
                    "db.system": LEGACY_DB_SYSTEMS.get(engine, engine),
                    "db.name": database,
                    "db.statement": attributes["db.query.text"],
                    "db.operation": operation,
                    "net.peer.name": attributes["server.address"],
                    "net.peer.port": attributes["server.port"],
                }
            )
        self._span(
            attempt_span(execution_id, step.step_id, ordinal, attempt),
            parent,
            f"{operation} {database}" if database else operation,
            SpanKind.CLIENT,
            started,
            ended,
            attributes,
            error,
        )
        labels = {
            "sqlfleet.job.name": job_name,
            "sqlfleet.step.id": step.step_id,
            "db.system.name": attributes["db.system.name"],
        }
        self.attempt_duration.record(
            max(0.0, (ended - started).total_seconds()),
            {**labels, "sqlfleet.target.lifecycle": lifecycle},
        )
        if lifecycle == "WaitingForRetry":
            self.retries.add(1, labels)

    def step(self, ids: SpanIds, row: Any, targets: Sequence[TargetExecution]) -> None:
        counts: dict[tuple[str, str], int] = {}
        for target in targets:
            key = (target.target.engine.value, target.lifecycle.value)
            counts[key] = counts.get(key, 0) + 1
        for (engine, lifecycle), count in counts.items():
            if lifecycle in _TERMINAL:
                self.targets_ended.add(
                    count,
                    {
                        "sqlfleet.job.name": row.job_name,
                        "sqlfleet.step.id": row.step_id,
                        "db.system.name": DB_SYSTEMS.get(engine, engine),
                        "sqlfleet.target.lifecycle": lifecycle,
                    },
                )
        failing = row.lifecycle.value in ("Failed", "TimedOut", "Canceled")
        start = row.start_time or row.create_time
        self._span(
            ids,
            execution_span(row.job_execution_id),
            f"step {row.step_id} {row.step_name or ''}".strip(),
            SpanKind.INTERNAL,
            start,
            row.end_time or start,
            {
                "sqlfleet.job.name": row.job_name,
                "sqlfleet.execution.id": row.job_execution_id,
                "sqlfleet.step.id": row.step_id,
                "sqlfleet.step.name": row.step_name,
                "sqlfleet.step.lifecycle": row.lifecycle.value,
                "sqlfleet.step.targets": len(targets),
                "sqlfleet.durable.instance_id": row.job_execution_id,
            },
            redact(row.last_message or row.lifecycle.value) if failing else None,
        )

    def execution(self, row: Any) -> None:
        lifecycle = row.lifecycle.value
        self.executions_ended.add(
            1, {"sqlfleet.job.name": row.job_name, "sqlfleet.execution.lifecycle": lifecycle}
        )
        failing = lifecycle in ("Failed", "TimedOut", "Canceled")
        start = row.start_time or row.create_time
        self._span(
            execution_span(row.job_execution_id),
            None,
            f"job execution {row.job_name}",
            SpanKind.INTERNAL,
            start,
            row.end_time or start,
            {
                "sqlfleet.job.name": row.job_name,
                "sqlfleet.job.version": row.job_version,
                "sqlfleet.execution.id": row.job_execution_id,
                "sqlfleet.execution.lifecycle": lifecycle,
                "sqlfleet.durable.instance_id": row.instance_id or row.job_execution_id,
                "sqlfleet.rerun_of": row.rerun_of_job_execution_id,
            },
            redact(row.last_message or lifecycle) if failing else None,
        )

    # Metrics without spans.

    def schedule_lag(self, job_name: str, seconds: float) -> None:
        self.lag.record(seconds, {"sqlfleet.job.name": job_name})

    def in_flight(self, change: int) -> None:
        self.connections.add(change)

    def waiting_for_slot(self, change: int) -> None:
        self.waiting.add(change)

    def prometheus_text(self) -> bytes | None:
        if self._registry is None:
            return None
        from prometheus_client import generate_latest

        text: bytes = generate_latest(self._registry)
        return text

    # Logs.

    @contextlib.contextmanager
    def joined(self, parent: SpanIds) -> Iterator[None]:
        token = otel_context.attach(_remote(parent))
        try:
            yield
        finally:
            otel_context.detach(token)

    def flush(self, timeout_millis: int = 10_000) -> None:
        self.tracer_provider.force_flush(timeout_millis)
        self.meter_provider.force_flush(timeout_millis)
        if self.logger_provider is not None:
            self.logger_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("sqlfleet").removeHandler(self._log_handler)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()


def pipeline_from_environment(
    *,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> Pipeline:
    """The exporters the environment asks for (see ``sqlfleet.telemetry``), plus the given
    processors and readers (tests add in-memory ones)."""
    processors: list[SpanProcessor] = list(span_processors)
    readers: list[MetricReader] = list(metric_readers)
    logs: list[LogRecordExporter] = []
    late: list[Callable[[TracerProvider], SpanProcessor]] = []
    connection_string = os.environ.get(APPLICATION_INSIGHTS, "").strip()
    if connection_string:
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorLogExporter,
            AzureMonitorMetricExporter,
            AzureMonitorTraceExporter,
        )

        options: dict[str, Any] = {"connection_string": connection_string}
        credential = _entra_credential(os.environ.get(AUTHENTICATION_STRING, ""))
        if credential is not None:
            options["credential"] = credential
        readers.append(PeriodicExportingMetricReader(AzureMonitorMetricExporter(**options)))
        logs.append(AzureMonitorLogExporter(**options))

        def azure_traces(provider: TracerProvider) -> SpanProcessor:
            # Given the provider, the exporter reads the resource (cloud role) from it rather
            # than from the process-wide one, which SQL Fleet leaves alone.
            return BatchSpanProcessor(
                AzureMonitorTraceExporter(tracer_provider=provider, **options)
            )

        late.append(azure_traces)
    if os.environ.get(OTLP_ENDPOINT, "").strip():
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        logs.append(OTLPLogExporter())
    prometheus = os.environ.get(PROMETHEUS, "").strip().lower() in _TRUE
    pipeline = Pipeline(
        span_processors=processors,
        metric_readers=readers,
        log_exporters=logs,
        prometheus=prometheus,
        legacy_db_attributes=bool(connection_string),
    )
    for processor in late:
        pipeline.tracer_provider.add_span_processor(processor(pipeline.tracer_provider))
    return pipeline


def _entra_credential(authentication: str) -> Any:
    """A managed identity for ``Authorization=AAD[;ClientId=...]`` (Application Insights with
    local authentication off, as ``infra/`` deploys it), else None."""
    parts = dict(part.split("=", 1) for part in authentication.split(";") if "=" in part)
    if parts.get("Authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = parts.get("ClientId")
    return (
        ManagedIdentityCredential(client_id=client_id)
        if client_id
        else (ManagedIdentityCredential())
    )
