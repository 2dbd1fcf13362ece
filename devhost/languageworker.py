"""The Python language worker as the host sees it: index the app, then invoke its functions.

On Azure the Functions host starts a Python worker process and drives it with four requests:
worker init (the worker imports ``function_app.py`` and indexes it), functions metadata (the
functions and their raw bindings), function load (one per function) and invocation (the trigger
and input bindings as ``TypedData``, the return value and outputs back). devhost speaks those
same requests, with the messages of :mod:`devhost.rpc`, to one of two workers:

* :class:`devhost.runtimeworker.RuntimeWorker` hands them to ``azure-functions-runtime``, the
  worker library Azure runs for Python 3.13 and later, so the load checks, error messages and
  binding conversions are the real ones;
* :class:`devhost.inprocessworker.InProcessWorker` (Python 3.10 to 3.12, where that library does
  not install) answers them itself, with the same load checks and messages.

``DEVHOST_PYTHON_WORKER`` (``runtime`` or ``inprocess``) picks one; by default the runtime when
it can be imported, as on Azure.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devhost import rpc

WORKER_SETTING = "DEVHOST_PYTHON_WORKER"
RUNTIME_MINIMUM_PYTHON = (3, 13)

logger = logging.getLogger("Host.Startup")


class WorkerLoadError(Exception):
    """The worker refused the app; the message is the worker's own."""


class FunctionFailed(Exception):
    """An invocation failed in the worker: ``message`` is ``"<Type>: <text>"`` as the worker
    serialises the exception, ``stack_trace`` the user's traceback."""

    def __init__(self, message: str, stack_trace: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.stack_trace = stack_trace


@dataclass(frozen=True)
class FunctionMetadata:
    """One function as the worker reported it (``RpcFunctionMetadata``)."""

    name: str
    function_id: str
    directory: str
    bindings: tuple[Mapping[str, Any], ...]  # the raw bindings, function.json's shape

    @property
    def trigger(self) -> Mapping[str, Any] | None:
        return next((b for b in self.bindings if str(b.get("type", "")).endswith("Trigger")), None)


def metadata_of(message: Any) -> FunctionMetadata:
    return FunctionMetadata(
        name=message.name,
        function_id=message.function_id,
        directory=message.directory,
        bindings=tuple(json.loads(raw) for raw in message.raw_bindings),
    )


class LanguageWorker(Protocol):
    """What the host asks of a Python worker. One app per worker, as one app per process."""

    description: str

    def index(self, folder: Path) -> list[FunctionMetadata]:
        """Init, metadata and load requests for the app in ``folder``.

        Raises WorkerLoadError with the worker's message when any function is refused.
        """
        ...

    async def invoke(self, request: Any) -> Any:
        """One ``InvocationRequest``; answers the ``InvocationResponse`` (never raises for the
        user's exceptions: they are a Failure result)."""
        ...

    def close(self) -> None: ...


def failure_of(response: Any) -> FunctionFailed | None:
    """The failure an InvocationResponse reports, or None when it succeeded."""
    if rpc.ok(response):
        return None
    exception = response.result.exception if response.result is not None else None
    if exception is None:
        return FunctionFailed("the worker reported a failure without an exception")
    return FunctionFailed(exception.message, exception.stack_trace)


def runtime_available() -> bool:
    if sys.version_info < RUNTIME_MINIMUM_PYTHON:
        return False
    try:
        import azure_functions_runtime  # noqa: F401
    except ImportError:
        return False
    return True


def create_worker(environ: Mapping[str, str] | None = None) -> LanguageWorker:
    """The worker ``DEVHOST_PYTHON_WORKER`` names, else the runtime when it can be imported."""
    environ = os.environ if environ is None else environ
    choice = (environ.get(WORKER_SETTING) or "").strip().lower()
    if choice not in ("", "runtime", "inprocess"):
        raise ValueError(f"setting {WORKER_SETTING}='{choice}' must be 'runtime' or 'inprocess'")
    if choice == "runtime" or (not choice and runtime_available()):
        if not runtime_available():
            raise ValueError(
                f"setting {WORKER_SETTING}=runtime needs Python 3.13 or later with "
                "azure-functions-runtime installed (pip install azure-functions-runtime)"
            )
        from devhost.runtimeworker import RuntimeWorker

        return RuntimeWorker()
    if sys.version_info >= RUNTIME_MINIMUM_PYTHON and not choice:
        logger.warning(
            "azure-functions-runtime is not installed: devhost checks and converts with its own "
            "worker, not Azure's (pip install azure-functions-runtime)"
        )
    from devhost.inprocessworker import InProcessWorker

    return InProcessWorker()
