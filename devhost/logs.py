"""Logging like the Functions host: timestamps, host.json categories, one line per invocation.

Every HTTP or timer invocation ends with one INFO line on the logger ``Function.<name>``::

    [2024-01-01T00:00:00.123Z] Executed 'Functions.hello' (Succeeded, Id=9c0..., Duration=7ms)

Orchestrator, activity and entity invocations log the same line on ``devhost.invocations``
(ERROR when they failed), unless host.json sets their ``Function.<name>`` (or ``Function``)
category above that level, as it would silence them on Azure: a function that runs thousands
of times a minute can keep its lines out of the log.

``Executing ...`` lines and request traces are DEBUG (``--verbose``). Request and response
bodies are never logged at INFO. host.json ``logging.logLevel`` maps categories to Python logger
names (``default`` is the root; ``Function``, ``Function.hello``, ``Host.Triggers.DurableTask``
and so on map to loggers of the same dotted name).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


class Outcome(str, enum.Enum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class _HostFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def host_level(name: str) -> int:
    """A host.json level name (Trace, Debug, Information, Warning, Error, Critical, None)."""
    try:
        return _LEVELS[name.strip().lower()]
    except KeyError as error:
        raise ValueError(
            f"host.json logging level '{name}' is unknown; use one of Trace, Debug, Information, "
            "Warning, Error, Critical, None"
        ) from error


def configure_logging(verbose: bool = False, log_levels: Mapping[str, str] | None = None) -> None:
    """Send logs to stderr in the host's format; ``verbose`` forces DEBUG everywhere."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_HostFormatter("[%(asctime)s] %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    levels = dict(log_levels or {})
    root.setLevel(logging.DEBUG if verbose else host_level(levels.pop("default", "Information")))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for category, level in levels.items():
        logging.getLogger(category).setLevel(logging.DEBUG if verbose else host_level(level))


@dataclass
class Invocation:
    """One running invocation; ``fail()`` marks it failed without raising."""

    function_name: str
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    outcome: Outcome = Outcome.SUCCEEDED

    def fail(self) -> None:
        self.outcome = Outcome.FAILED


_DURABLE_INVOCATIONS = logging.getLogger("devhost.invocations")


@functools.lru_cache(maxsize=1024)
def function_logger(function_name: str) -> logging.Logger:
    return logging.getLogger(f"Function.{function_name}")


def log_durable_invocation(
    function_name: str, invocation_id: str, started: float, *, failed: bool
) -> None:
    """The ``Executed`` line of an orchestrator, activity or entity invocation that began at
    ``started`` (``time.perf_counter()``); see the module docstring for who may silence it."""
    level = logging.ERROR if failed else logging.INFO
    category: logging.Logger | None = function_logger(function_name)
    while category is not None and category.parent is not None:  # up to, not into, the root
        if category.level:
            if level < category.level:
                return
            break
        category = category.parent
    _DURABLE_INVOCATIONS.log(
        level,
        "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
        function_name,
        "Failed" if failed else "Succeeded",
        invocation_id,
        int((time.perf_counter() - started) * 1000),
    )


@contextmanager
def invocation(function_name: str, reason: str) -> Iterator[Invocation]:
    """Log ``Executing``/``Executed`` around one invocation; an exception marks it Failed."""
    record = Invocation(function_name)
    log = function_logger(function_name)
    log.debug(
        "Executing 'Functions.%s' (Reason='%s', Id=%s)", function_name, reason, record.invocation_id
    )
    started = time.perf_counter()
    try:
        yield record
    except BaseException:
        record.fail()
        raise
    finally:
        duration = round((time.perf_counter() - started) * 1000)
        log.info(
            "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
            function_name,
            record.outcome.value,
            record.invocation_id,
            duration,
        )
