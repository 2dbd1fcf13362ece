"""Host-style logging: host.json levels, --verbose, and the per-invocation line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from devhost import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    touched = ["Function", "Host.Triggers.DurableTask", "aiohttp.access"]
    levels = {name: logging.getLogger(name).level for name in touched}
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)


def test_host_json_levels_map_to_loggers(restore_logging):
    logs.configure_logging(
        False, {"default": "Warning", "Function": "None", "Host.Triggers.DurableTask": "Debug"}
    )
    assert logging.getLogger().level == logging.WARNING
    assert not logging.getLogger("Function.hello").isEnabledFor(logging.CRITICAL)
    assert logging.getLogger("Host.Triggers.DurableTask").isEnabledFor(logging.DEBUG)
    logs.configure_logging(True, {"default": "Warning", "Function": "None"})
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("Function.hello").isEnabledFor(logging.DEBUG)
    with pytest.raises(ValueError, match="use one of Trace, Debug"):
        logs.host_level("Loud")


def test_invocation_line_and_failure(caplog):
    caplog.set_level(logging.INFO)
    with logs.invocation("hello", "test") as invocation:
        pass
    with pytest.raises(RuntimeError), logs.invocation("boom", "test"):
        raise RuntimeError("x")
    lines = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(
        rf"Executed 'Functions\.hello' \(Succeeded, Id={invocation.invocation_id}, "
        r"Duration=\d+ms\)",
        lines[0],
    )
    assert re.fullmatch(
        r"Executed 'Functions\.boom' \(Failed, Id=[0-9a-f-]{36}, Duration=\d+ms\)", lines[1]
    )
    assert [r.name for r in caplog.records] == ["Function.hello", "Function.boom"]
