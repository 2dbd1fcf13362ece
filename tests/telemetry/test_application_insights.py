"""What SQL Fleet sends Application Insights, without Azure: the connection string's
IngestionEndpoint points at a receiver this test starts, and the test reads the envelopes that
``azure-monitor-opentelemetry``'s exporters POST there (the same bytes Azure would get)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sqlfleet import telemetry
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models.executions import ExecutionRow, TargetExecution
from sqlfleet.models.jobs import JobStep, OnFailure
from sqlfleet.outcomes import ScriptOutcome
from sqlfleet.telemetry.ids import step_traceparent
from sqlfleet.telemetry.pipeline import pipeline_from_environment
from tests.support.http_receiver import HttpReceiver, ReceivedRequest

INSTRUMENTATION_KEY = "4f2c1a9e-0b3d-4e5f-8a7b-6c5d4e3f2a1b"
EXECUTION = str(uuid.uuid4())
T0 = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.timezone.utc)


def _envelopes(request: ReceivedRequest) -> list[dict[str, Any]]:
    body = request.body
    if request.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    text = body.decode()
    if text.lstrip().startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _accept(request: ReceivedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
    count = len(_envelopes(request)) if request.path.endswith("/track") else 0
    body = {"itemsReceived": count, "itemsAccepted": count, "errors": []}
    return 200, [("Content-Type", "application/json")], json.dumps(body).encode()


@pytest.fixture
def ingestion(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpReceiver]:
    with HttpReceiver(_accept) as receiver:
        monkeypatch.setenv(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint={receiver.base}/;"
            f"LiveEndpoint={receiver.base}/",
        )
        # Statsbeat (the SDK's own usage counts) would go to Microsoft's endpoint.
        monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
        # And neither its counts of this app's telemetry nor its configuration refresh, which
        # would go on calling the receiver after the test.
        monkeypatch.setenv("APPLICATIONINSIGHTS_SDKSTATS_DISABLED", "true")
        monkeypatch.setenv("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
        monkeypatch.delenv("SQLFLEET_PROMETHEUS_METRICS", raising=False)
        yield receiver


def _row(**fields: Any) -> dict[str, Any]:
    return {
        "job_execution_id": EXECUTION,
        "job_name": "Nightly",
        "job_id": str(uuid.uuid4()),
        "job_version": 3,
        "step_id": None,
        "step_name": None,
        "is_active": False,
        "lifecycle": Lifecycle.FAILED,
        "create_time": T0,
        "start_time": T0,
        "end_time": T0 + dt.timedelta(seconds=5),
        "current_attempts": 1,
        "current_attempt_start_time": None,
        "next_attempt_start_time": None,
        "last_message": "1 target failed",
        "target_type": None,
        "target_id": None,
        "target_group_name": None,
        "target_server_name": None,
        "target_database_name": None,
        **fields,
    }


def test_application_insights_gets_the_trace_metrics_and_logs(
    ingestion: HttpReceiver,
) -> None:
    pipeline = pipeline_from_environment()
    telemetry.install(pipeline)
    try:
        step = JobStep(
            job_name="Nightly", job_version=3, step_id=1, step_name="reindex",
            command="ALTER INDEX ALL ON dbo.Orders REBUILD; -- $(job_name)",
            credential_name="jobuser", target_group_name="Prod", retry_attempts=0,
            initial_retry_interval_seconds=1, maximum_retry_interval_seconds=120,
            retry_interval_backoff_multiplier=2.0, step_timeout_seconds=60,
            max_parallelism=None, on_failure=OnFailure.FAIL, output=None,
        )  # fmt: skip
        target = TargetExecution.model_validate(
            _row(
                step_id=1,
                step_name="reindex",
                target_ordinal=0,
                target_engine="sqlserver",
                target_server_name="sql1.database.windows.net",
                target_database_name="Sales",
            )  # fmt: skip
        )
        outcome = ScriptOutcome(error="Login failed for user 'jobuser'.", sqlstate="28000")
        document = {"job_execution_id": EXECUTION, "step_id": 1}
        telemetry.attempt_ended(
            {**document, "traceparent": step_traceparent(EXECUTION, 1)},
            target.started(), step, 1, outcome, T0, T0 + dt.timedelta(seconds=2), "Failed",
        )  # fmt: skip
        pipeline.step(
            telemetry.ids.step_span(EXECUTION, 1),
            ExecutionRow.model_validate(_row(step_id=1, step_name="reindex")),
            [target],
        )
        telemetry.execution_ended(ExecutionRow.model_validate(_row()))
        with telemetry.joined(telemetry.ids.step_span(EXECUTION, 1)):
            logging.getLogger("sqlfleet.activities").warning("step 1 of %s failed", EXECUTION)
        pipeline.flush()
    finally:
        telemetry.reset()

    envelopes = [e for r in ingestion.requests if r.path == "/v2.1/track" for e in _envelopes(r)]
    assert all(e["iKey"] == INSTRUMENTATION_KEY for e in envelopes)
    trace_id = uuid.UUID(EXECUTION).hex
    by_type: dict[str, list[dict[str, Any]]] = {}
    for envelope in envelopes:
        by_type.setdefault(envelope["data"]["baseType"], []).append(envelope)

    dependencies = by_type["RemoteDependencyData"]
    (database,) = [d for d in dependencies if d["data"]["baseData"]["type"] == "SQL"]
    data = database["data"]["baseData"]
    assert database["tags"]["ai.operation.id"] == trace_id
    assert data["name"] == "ALTER Sales" and data["success"] is False
    assert data["type"] == "SQL"  # a SQL dependency in the portal's application map
    assert data["target"] == "sql1.database.windows.net|Sales"
    assert data["properties"]["sqlfleet.execution.id"] == EXECUTION
    assert data["properties"]["sqlfleet.target.lifecycle"] == "Failed"
    assert data["data"] == step.command  # the query text as written: no values in it
    in_proc = {d["data"]["baseData"]["name"] for d in dependencies} - {"ALTER Sales"}
    requests = {r["data"]["baseData"]["name"] for r in by_type.get("RequestData", [])}
    assert {"job execution Nightly", "step 1 reindex"} <= in_proc | requests

    metrics = {
        m["data"]["baseData"]["metrics"][0]["name"]: m["data"]["baseData"]
        for m in by_type["MetricData"]
    }
    executions = metrics["sqlfleet.executions.ended"]
    assert executions["properties"]["sqlfleet.execution.lifecycle"] == "Failed"
    ended = metrics["sqlfleet.target_executions.ended"]
    assert ended["properties"]["sqlfleet.target.lifecycle"] == "Failed"
    assert ended["properties"]["db.system.name"] == "microsoft.sql_server"

    (message,) = [
        m for m in by_type["MessageData"] if "step 1 of" in m["data"]["baseData"]["message"]
    ]
    assert message["tags"]["ai.operation.id"] == trace_id
    assert message["data"]["baseData"]["severityLevel"] == 2  # Warning
