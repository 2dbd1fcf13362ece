"""Invocation logs like the Functions host's, never with payloads at INFO."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import azure.durable_functions as df
import pytest

from tests.devhost.engine.engine_apps import client_input, drain, functions

LINE = re.compile(
    r"^Executed 'Functions\.(?P<name>\w+)' \((?P<result>Succeeded|Failed), "
    r"Id=(?P<id>[0-9a-f-]+), Duration=\d+ms\)$"
)
SECRET = "p4ssw0rd-do-not-log"


def secretive(context: df.DurableOrchestrationContext):
    token = yield context.call_activity("Echo", context.get_input())
    try:
        yield context.call_activity("Explode", token)
    except Exception:
        return "handled"


def _explode(value: str) -> None:
    raise RuntimeError(f"cannot use {value}")


def test_one_info_line_per_invocation_and_no_payloads(make_engine, caplog):
    engine = make_engine(
        functions({"secretive": secretive}, {"Echo": lambda v: v, "Explode": _explode})
    )
    instance_id = engine.start_orchestration("secretive", client_input(SECRET))
    with caplog.at_level(logging.DEBUG, logger="devhost"):
        drain(engine)

    info = [r for r in caplog.records if r.levelno >= logging.INFO]
    lines = [LINE.match(r.getMessage()) for r in info if r.name == "devhost.invocations"]
    assert all(lines), [r.getMessage() for r in info]
    summary = [(m["name"], m["result"]) for m in lines if m]
    assert summary == [
        ("secretive", "Succeeded"),
        ("Echo", "Succeeded"),
        ("secretive", "Succeeded"),
        ("Explode", "Failed"),
        ("secretive", "Succeeded"),
    ]
    orchestrator_ids = {m["id"] for m in lines if m and m["name"] == "secretive"}
    assert orchestrator_ids == {instance_id}
    assert not any(SECRET in r.getMessage() for r in caplog.records)


@pytest.fixture
def quiet_functions() -> Iterator[None]:
    """host.json ``"logLevel": {"Function.Echo": "Warning", "Function": "Warning"}``."""
    categories = [logging.getLogger(name) for name in ("Function.Echo", "Function")]
    for category in categories:
        category.setLevel(logging.WARNING)
    yield
    for category in categories:
        category.setLevel(logging.NOTSET)


@pytest.mark.usefixtures("quiet_functions")
def test_a_function_category_above_information_silences_its_successes_only(make_engine, caplog):
    engine = make_engine(
        functions({"secretive": secretive}, {"Echo": lambda v: v, "Explode": _explode})
    )
    engine.start_orchestration("secretive", client_input("token"))
    with caplog.at_level(logging.DEBUG, logger="devhost"):
        drain(engine)

    lines = [
        (r.levelno, LINE.match(r.getMessage()))
        for r in caplog.records
        if r.name == "devhost.invocations"
    ]
    summary = [(level, m["name"], m["result"]) for level, m in lines if m]
    assert summary == [(logging.ERROR, "Explode", "Failed")]
