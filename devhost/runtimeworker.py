"""The worker Azure runs for Python 3.13+: ``azure-functions-runtime``, driven in this process.

Azure's host talks to a small proxy process over gRPC; the proxy hands each request to this
library's handlers (``worker_init_request``, ``functions_metadata_request``,
``function_load_request``, ``invocation_request``) with the protobuf module as ``protos``. devhost
calls the same handlers with :mod:`devhost.rpc` as ``protos``, so indexing, the load checks, the
error messages and every binding conversion are the library's.

The library keeps one app per process in module globals, as a worker process does; indexing a
second app in the same process (tests do) starts it from an empty function registry.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from devhost import rpc
from devhost.languageworker import FunctionMetadata, WorkerLoadError, metadata_of

# What the host announces at init (the capabilities a recent Functions host sends).
HOST_CAPABILITIES = {
    "RawHttpBodyBytes": "true",
    "TypedDataCollection": "true",
    "RpcHttpBodyOnly": "true",
    "RpcHttpTriggerMetadataRemoved": "true",
    "IgnoreEmptyValuedRpcHttpHeaders": "true",
    "UseNullableValueDictionaryForHttp": "true",
    "HandlesWorkerTerminateMessage": "true",
}
WORKER_HOST = "127.0.0.1"

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one handler to completion from synchronous code, inside or outside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed back to the caller below
            error.append(exc)

    thread = threading.Thread(target=target, name="devhost-worker-init")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class RuntimeWorker:
    """``azure_functions_runtime`` as devhost's language worker."""

    def __init__(self) -> None:
        import azure_functions_runtime
        from azure_functions_runtime import handle_event

        self._runtime = azure_functions_runtime
        self._handlers = handle_event
        self.description = (
            f"azure-functions-runtime {metadata.version('azure-functions-runtime')} "
            f"(Python {sys.version_info.major}.{sys.version_info.minor})"
        )
        # The runtime logs a line per invocation at INFO under "azure.functions"; the host
        # shows worker logs at Warning and above, as Azure's default categories do.
        logging.getLogger("azure.functions").setLevel(logging.WARNING)

    def _request(self, **content: Any) -> rpc.WorkerRequest:
        message = rpc.StreamingMessage(**content)
        return rpc.WorkerRequest(message, {"host": WORKER_HOST, "protos": rpc})

    def index(self, folder: Path) -> list[FunctionMetadata]:
        from azure_functions_runtime.functions import Registry

        directory = str(folder)
        if directory in sys.path:  # first, so its function_app.py is the one imported
            sys.path.remove(directory)
        sys.path.insert(0, directory)
        script = Path(self._script_file_name()).stem
        sys.modules.pop(script, None)  # a worker process imports the app once, fresh
        self._handlers._functions = Registry()  # noqa: SLF001 - one app per worker
        self._runtime.start_threadpool_executor()
        init = _run(
            self._handlers.worker_init_request(
                self._request(
                    worker_init_request=rpc.WorkerInitRequest(
                        host_version="4",
                        capabilities=dict(HOST_CAPABILITIES),
                        function_app_directory=directory,
                    )
                )
            )
        )
        _raise_unless_ok(init)
        listing = _run(
            self._handlers.functions_metadata_request(
                self._request(
                    functions_metadata_request=rpc.FunctionsMetadataRequest(
                        function_app_directory=directory
                    )
                )
            )
        )
        _raise_unless_ok(listing)
        functions = [metadata_of(m) for m in listing.function_metadata_results or []]
        for message in listing.function_metadata_results or []:
            loaded = _run(
                self._handlers.function_load_request(
                    self._request(
                        function_load_request=rpc.FunctionLoadRequest(
                            function_id=message.function_id, metadata=message
                        )
                    )
                )
            )
            _raise_unless_ok(loaded)
        return functions

    @staticmethod
    def _script_file_name() -> str:
        from azure_functions_runtime.utils.app_setting_manager import get_app_setting
        from azure_functions_runtime.utils.constants import (
            PYTHON_SCRIPT_FILE_NAME,
            PYTHON_SCRIPT_FILE_NAME_DEFAULT,
        )

        return str(
            get_app_setting(
                setting=PYTHON_SCRIPT_FILE_NAME, default_value=PYTHON_SCRIPT_FILE_NAME_DEFAULT
            )
        )

    async def invoke(self, request: Any) -> Any:
        return await self._handlers.invocation_request(self._request(invocation_request=request))

    def close(self) -> None:
        self._runtime.stop_threadpool_executor()


def _raise_unless_ok(response: Any) -> None:
    if rpc.ok(response):
        return
    exception = response.result.exception
    raise WorkerLoadError(exception.message if exception is not None else "the worker failed")
