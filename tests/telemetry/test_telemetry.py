"""Telemetry of a real execution on the real local host: a two-step job on three SQLite
databases where one target fails its first attempt and succeeds on its retry (step 1) and one
fails for good (step 2).

- the in-memory exporter's span tree: execution → steps → one database client span per
  attempt, with OpenTelemetry's database attributes and SQL Fleet's own;
- what the OTLP/HTTP exporter sent to a receiver this session started (protobuf, decoded);
- the Prometheus text at ``/api/metrics``, parsed.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from tests.jobs.fleet import sqlite_folder_member, step, unique
from tests.jobs.host import poll
from tests.support.http_receiver import HttpReceiver
from tests.telemetry.conftest import TelemetryHost

# Fails on 'flaky' until its second attempt (the counter row survives: SQLite scripts run in
# autocommit), and on 'bad' always, with an integer overflow.
FLAKY = (
    "CREATE TABLE IF NOT EXISTS tries (n INTEGER); INSERT INTO tries VALUES (1); "
    "SELECT CASE WHEN '$(target_database_name)' LIKE 'flaky%' "
    "AND (SELECT count(*) FROM tries) < 2 THEN abs(-9223372036854775808) END;"
)
FAILS_ON_BAD = (
    "SELECT CASE WHEN '$(target_database_name)' LIKE 'bad%' THEN abs(-9223372036854775808) END;"
)


@dataclass
class Run:
    job: str
    execution: dict[str, Any]

    @property
    def execution_id(self) -> str:
        return str(self.execution["job_execution_id"])

    @property
    def trace_id(self) -> str:
        return uuid.UUID(self.execution_id).hex


@pytest.fixture(scope="module")
def run(telemetry_host: TelemetryHost, sqlite_root: Path) -> Iterator[Run]:
    folder = sqlite_root / unique("server")
    folder.mkdir()
    for name in ("ok", "flaky", "bad"):
        sqlite3.connect(folder / f"{name}.db").close()
    group = unique("group")
    telemetry_host.ok("PUT", f"/api/target-groups/{group}", {"members": []})
    telemetry_host.ok("POST", f"/api/target-groups/{group}/members", sqlite_folder_member(folder))
    job = unique("traced")
    telemetry_host.put_job(
        job,
        [
            step("flaky", FLAKY, group, retry_attempts=2, on_failure="continue"),
            step("fails", FAILS_ON_BAD, group),
        ],
    )
    execution = telemetry_host.run_job(job)
    yield Run(job, execution)


def test_span_tree_of_a_two_step_execution(telemetry_host: TelemetryHost, run: Run) -> None:
    assert run.execution["lifecycle"] == "Failed"
    # 1 execution + 2 steps + 4 attempts in step 1 (flaky twice) + 3 in step 2.
    spans = telemetry_host.spans(10, run.trace_id)
    by_id = {span["span_id"]: span for span in spans}
    (root,) = [span for span in spans if span["parent_id"] is None]
    assert root["name"] == f"job execution {run.job}"
    assert root["attributes"]["sqlfleet.execution.id"] == run.execution_id
    assert root["attributes"]["sqlfleet.execution.lifecycle"] == "Failed"
    assert root["attributes"]["sqlfleet.durable.instance_id"] == run.execution_id
    assert root["status"] == "ERROR"

    steps = sorted((s for s in spans if s["parent_id"] == root["span_id"]), key=lambda s: s["name"])
    assert [s["name"] for s in steps] == ["step 1 flaky", "step 2 fails"]
    assert [s["attributes"]["sqlfleet.step.lifecycle"] for s in steps] == ["Succeeded", "Failed"]

    attempts = [s for s in spans if s["kind"] == "CLIENT"]
    assert len(attempts) == 7
    for attempt in attempts:
        parent = by_id[attempt["parent_id"]]
        assert parent in steps
        assert attempt["attributes"]["sqlfleet.step.id"] == parent["attributes"]["sqlfleet.step.id"]
        attributes = attempt["attributes"]
        assert attributes["db.system.name"] == "sqlite"
        assert attributes["sqlfleet.job.name"] == run.job
        assert attributes["sqlfleet.execution.id"] == run.execution_id
        assert attributes["sqlfleet.durable.instance_id"] == run.execution_id
        assert attributes["db.namespace"].split(".")[0] in {"ok", "flaky", "bad"}
        # The command as written: script variables stay placeholders.
        assert "$(target_database_name)" in attributes["db.query.text"]
        assert attempt["start"] <= attempt["end"]

    def attempts_of(database: str, step_id: int) -> list[dict[str, Any]]:
        found = [
            a
            for a in attempts
            if a["attributes"]["db.namespace"].startswith(database)
            and a["attributes"]["sqlfleet.step.id"] == step_id
        ]
        return sorted(found, key=lambda a: a["attributes"]["sqlfleet.target.attempt"])

    first, second = attempts_of("flaky", 1)
    assert first["attributes"]["sqlfleet.target.lifecycle"] == "WaitingForRetry"
    assert first["attributes"]["db.operation.name"] == "CREATE"
    assert first["name"].startswith("CREATE flaky")
    assert first["status"] == "ERROR" and "error.type" in first["attributes"]
    assert "overflow" in first["description"]
    assert second["attributes"]["sqlfleet.target.lifecycle"] == "Succeeded"
    assert second["attributes"]["sqlfleet.target.retries"] == 1
    assert second["status"] == "UNSET" and "error.type" not in second["attributes"]

    (failed,) = attempts_of("bad", 2)
    assert failed["attributes"]["sqlfleet.target.lifecycle"] == "Failed"
    assert failed["status"] == "ERROR"
    (fine,) = attempts_of("ok", 2)
    assert fine["attributes"]["sqlfleet.target.lifecycle"] == "Succeeded"


def test_otlp_over_http_reaches_a_receiver(otlp_receiver: HttpReceiver, run: Run) -> None:
    def traced() -> list[Any]:
        found = []
        for request in otlp_receiver.requests:
            if request.path != "/v1/traces":
                continue
            assert request.headers["content-type"] == "application/x-protobuf"
            message = ExportTraceServiceRequest.FromString(request.body)
            for resource in message.resource_spans:
                for scope in resource.scope_spans:
                    found += [s for s in scope.spans if s.trace_id.hex() == run.trace_id]
        return found if len(found) >= 10 else []

    spans = poll(traced, 20, "the execution's spans over OTLP", interval=0.2)
    names = {span.name for span in spans}
    assert f"job execution {run.job}" in names
    assert {"step 1 flaky", "step 2 fails"} <= names

    def counted() -> dict[str, float]:
        # Cumulative sums: the newest value of each series (job, step, engine, lifecycle).
        series: dict[str, tuple[str, int]] = {}
        for request in otlp_receiver.requests:
            if request.path != "/v1/metrics":
                continue
            message = ExportMetricsServiceRequest.FromString(request.body)
            for resource in message.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != "sqlfleet.target_executions.ended":
                            continue
                        for point in metric.sum.data_points:
                            labels = {a.key: a.value.string_value for a in point.attributes}
                            if labels["sqlfleet.job.name"] == run.job:
                                key = str(sorted(a.SerializeToString() for a in point.attributes))
                                series[key] = (labels["sqlfleet.target.lifecycle"], point.as_int)
        totals: dict[str, float] = {}
        for lifecycle, value in series.values():
            totals[lifecycle] = totals.get(lifecycle, 0) + value
        return totals if totals.get("Failed") else {}

    totals = poll(counted, 20, "target executions over OTLP", interval=0.3)
    assert totals == {"Succeeded": 5, "Failed": 1}

    def logged() -> list[Any]:
        found = []
        for request in otlp_receiver.requests:
            if request.path != "/v1/logs":
                continue
            message = ExportLogsServiceRequest.FromString(request.body)
            for resource in message.resource_logs:
                for scope in resource.scope_logs:
                    found += [r for r in scope.log_records if r.trace_id.hex() == run.trace_id]
        return found

    # The failed-target warning of step 2 (what the Azure Monitor alert counts), in the trace.
    (record,) = poll(logged, 20, "the step's warning over OTLP", interval=0.2)
    assert record.body.string_value.startswith("SQL Fleet: failed target executions: 1 Failed")
    assert record.severity_text == "WARNING"
    steps = {s.span_id for s in spans if s.name == "step 2 fails"}
    assert record.span_id in steps


def test_prometheus_scrape_after_a_run(telemetry_host: TelemetryHost, run: Run) -> None:
    reply = telemetry_host.call("GET", "/api/metrics")
    assert reply.status == 200, reply.body
    families = {f.name: f for f in text_string_to_metric_families(reply.raw.decode())}

    def samples(family: str, suffix: str, **labels: str) -> list[Any]:
        return [
            s
            for s in families[family].samples
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    ended = samples("sqlfleet_target_executions_ended", "_total", sqlfleet_job_name=run.job)
    by_lifecycle: dict[str, float] = {}
    for sample in ended:
        lifecycle = sample.labels["sqlfleet_target_lifecycle"]
        by_lifecycle[lifecycle] = by_lifecycle.get(lifecycle, 0) + sample.value
        assert sample.labels["db_system_name"] == "sqlite"
    assert by_lifecycle == {"Succeeded": 5, "Failed": 1}
    (failed_step,) = [s for s in ended if s.labels["sqlfleet_target_lifecycle"] == "Failed"]
    assert failed_step.labels["sqlfleet_step_id"] == "2"

    executions = samples("sqlfleet_executions_ended", "_total", sqlfleet_job_name=run.job)
    assert [(s.labels["sqlfleet_execution_lifecycle"], s.value) for s in executions] == [
        ("Failed", 1.0)
    ]
    retries = samples("sqlfleet_target_retries", "_total", sqlfleet_job_name=run.job)
    assert sum(s.value for s in retries) == 1
    durations = samples(
        "sqlfleet_target_attempt_duration_seconds", "_count", sqlfleet_job_name=run.job
    )
    assert sum(s.value for s in durations) == 7
    in_flight = samples("sqlfleet_target_connections_in_flight", "")
    assert in_flight and all(s.value == 0 for s in in_flight)


def test_metrics_need_the_function_key(telemetry_host: TelemetryHost) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(telemetry_host.base + "/api/metrics", timeout=10)
    refused.value.close()
    assert refused.value.code == 401


def test_attempts_in_script_processes_join_the_step(
    telemetry_host: TelemetryHost, sqlite_root: Path
) -> None:
    """A step of 500+ SQLite targets runs its scripts in the script processes: their attempts
    are spans of the step too, timed in the child."""
    folder = sqlite_root / unique("many")
    folder.mkdir()
    for index in range(500):
        sqlite3.connect(folder / f"db{index:03}.db").close()
    group = unique("many")
    telemetry_host.ok("PUT", f"/api/target-groups/{group}", {"members": []})
    telemetry_host.ok("POST", f"/api/target-groups/{group}/members", sqlite_folder_member(folder))
    job = unique("chunked")
    telemetry_host.put_job(job, [step("one", "SELECT 1;", group)])

    def in_a_script_process() -> list[dict[str, Any]]:
        execution = telemetry_host.run_job(job)
        assert execution["lifecycle"] == "Succeeded"
        trace_id = uuid.UUID(execution["job_execution_id"]).hex
        spans = telemetry_host.spans(502, trace_id)
        attempts = [s for s in spans if s["kind"] == "CLIENT"]
        (step_span,) = [s for s in spans if s["name"] == "step 1 one"]
        assert len(attempts) == 500
        assert {a["parent_id"] for a in attempts} == {step_span["span_id"]}
        far = [a for a in attempts if a["attributes"].get("sqlfleet.script_process")]
        return far

    # The processes start with the first local turn (which runs in the host meanwhile).
    far = poll(in_a_script_process, 60, "attempts run in a script process", interval=0)
    assert all(a["start"] <= a["end"] for a in far)
