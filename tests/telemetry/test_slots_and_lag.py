"""The metrics that no single execution shows, read from an in-memory metric reader: target
connections in flight and targets waiting for a slot under the agent-wide cap, and how late a
scheduled occurrence started."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from sqlfleet import telemetry
from sqlfleet.telemetry.pipeline import Pipeline
from tests.jobs.host import poll


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    telemetry.install(Pipeline(metric_readers=[reader]))
    try:
        yield reader
    finally:
        telemetry.reset()


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


def _value(reader: InMemoryMetricReader, name: str) -> int:
    return sum(point.value for point in _points(reader).get(name, []))


def test_connections_in_flight_and_targets_waiting_for_a_slot(
    reader: InMemoryMetricReader,
) -> None:
    cap = threading.BoundedSemaphore(1)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with telemetry.slot(cap):
            holding.set()
            release.wait(10)

    def wait_for_slot() -> None:
        with telemetry.slot(cap):
            pass

    first = threading.Thread(target=hold)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=wait_for_slot)
    second.start()
    poll(lambda: _value(reader, "sqlfleet.targets.waiting_for_slot") == 1, 10, "a waiter")
    assert _value(reader, "sqlfleet.target.connections.in_flight") == 1
    release.set()
    first.join(10)
    second.join(10)
    assert _value(reader, "sqlfleet.targets.waiting_for_slot") == 0
    assert _value(reader, "sqlfleet.target.connections.in_flight") == 0


def test_schedule_lag(reader: InMemoryMetricReader) -> None:
    due = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.timezone.utc)
    telemetry.schedule_lag("Nightly", due, due + dt.timedelta(seconds=3))
    telemetry.schedule_lag("Nightly", due, due - dt.timedelta(seconds=1))  # early: no lag
    (point,) = _points(reader)["sqlfleet.schedule.lag"]
    assert point.attributes == {"sqlfleet.job.name": "Nightly"}
    assert point.count == 2 and point.sum == 3.0
