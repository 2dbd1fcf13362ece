"""Fixtures for the durable engine suites: a fake clock and engines stepped by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.clock import FakeClock
from devhost.engine import Engine
from devhost.store import SqliteTaskHubStore
from devhost.taskhub import DurableFunctions

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(params=["memory", "file"])
def store_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every engine suite runs on both kinds of the one store: ':memory:' and a WAL file."""
    return ":memory:" if request.param == "memory" else str(tmp_path / "hub.sqlite3")


@pytest.fixture
def make_engine(clock: FakeClock) -> Iterator:
    engines: list[Engine] = []

    def make(functions: DurableFunctions, path: str = ":memory:", **options) -> Engine:
        engine = Engine(SqliteTaskHubStore(path), functions, clock=clock, **options)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.stop()
        engine.store.close()
