"""devhost's own Python worker, for Python 3.10 to 3.12 (``azure-functions-runtime`` needs 3.13).

It answers the same requests as the runtime worker and behaves as the worker does: it imports
the script, finds the one ``FunctionRegister``, refuses the app when a function fails the load
checks (:mod:`devhost.loadchecks`), and invokes a function with its arguments by keyword: the
trigger and input bindings decoded by ``azure.functions``' converters, ``context`` when the
function asks for one, ``Out`` placeholders for output bindings. ``async def`` functions are
awaited on the calling event loop, plain ones run in a thread pool of
``PYTHON_THREADPOOL_THREAD_COUNT`` threads.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import threading
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import _abc as functions_abc

from devhost import rpc
from devhost.bindings import converter_for, to_datum, to_typed_data
from devhost.languageworker import FunctionMetadata, WorkerLoadError
from devhost.loadchecks import CheckedFunction, check_function

SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
MODULE_NOT_FOUND = (
    "Cannot find module. Please check the requirements.txt file for the missing module. For more "
    "info, please refer the troubleshooting guide: https://aka.ms/functions-modulenotfound."
)


class Out:
    """The placeholder an output binding's parameter receives."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, value: Any) -> None:
        self._value = value

    def get(self) -> Any:
        return self._value


class _TraceContext(functions_abc.TraceContext):
    def __init__(self, message: Any) -> None:
        self._message = message

    @property
    def trace_state(self) -> str:
        return str(self._message.trace_state)

    @property
    def trace_parent(self) -> str:
        return str(self._message.trace_parent)

    @property
    def attributes(self) -> dict[str, str]:
        return dict(self._message.attributes)


class _RetryContext(functions_abc.RetryContext):
    def __init__(self, message: Any) -> None:
        self._message = message

    @property
    def retry_count(self) -> int:
        return int(self._message.retry_count)

    @property
    def max_retry_count(self) -> int:
        return int(self._message.max_retry_count)

    @property
    def exception(self) -> Any:
        return self._message.exception


_invocation_local = threading.local()


class InvocationContext(func.Context):
    """``func.Context`` of one invocation."""

    def __init__(self, function: CheckedFunction, request: Any) -> None:
        self._function = function
        self._request = request

    @property
    def invocation_id(self) -> str:
        return str(self._request.invocation_id)

    @property
    def thread_local_storage(self) -> Any:
        return _invocation_local

    @property
    def function_name(self) -> str:
        return self._function.name

    @property
    def function_directory(self) -> str:
        return self._function.directory

    @property
    def trace_context(self) -> functions_abc.TraceContext:
        return _TraceContext(self._request.trace_context)

    @property
    def retry_context(self) -> functions_abc.RetryContext:
        return _RetryContext(self._request.retry_context)


def _thread_count() -> int | None:
    text = os.environ.get(THREAD_COUNT_SETTING)
    if not text:
        return None
    try:
        count = int(text)
    except ValueError:
        return None
    return count if count >= 1 else None


def _failure(invocation_id: str, error: BaseException) -> Any:
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return rpc.InvocationResponse(
        invocation_id=invocation_id,
        result=rpc.StatusResult(
            status=rpc.StatusResult.Failure,
            exception=rpc.RpcException(
                message=f"{type(error).__name__}: {error}", stack_trace=stack
            ),
        ),
    )


class InProcessWorker:
    """Indexes and invokes in this process with devhost's own copy of the worker's rules."""

    def __init__(self) -> None:
        self.description = (
            f"devhost's in-process worker (Python {sys.version_info.major}."
            f"{sys.version_info.minor}; azure-functions-runtime needs 3.13)"
        )
        self._functions: dict[str, CheckedFunction] = {}
        self._pool: ThreadPoolExecutor | None = None

    def index(self, folder: Path) -> list[FunctionMetadata]:
        script = os.environ.get(SCRIPT_FILE_SETTING) or "function_app.py"
        directory = str(folder)
        if directory in sys.path:  # first, so its function_app.py is the one imported
            sys.path.remove(directory)
        sys.path.insert(0, directory)
        module_name = Path(script).stem
        sys.modules.pop(module_name, None)
        try:
            module = importlib.import_module(module_name)
            registers = [
                value for value in vars(module).values() if isinstance(value, func.FunctionRegister)
            ]
            if len(registers) > 1:
                raise ValueError(
                    f"More than one {type(registers[0]).__name__} or other top level function "
                    "app instances are defined."
                )
            if not registers:
                raise ValueError(f"Could not find top level function app instances in {script}.")
            indexed = registers[0].get_functions()
            functions: dict[str, CheckedFunction] = {}
            listing = []
            for function in indexed:
                checked = check_function(function)
                function_id = str(uuid.uuid5(uuid.NAMESPACE_OID, checked.name))
                functions[function_id] = checked
                listing.append(
                    FunctionMetadata(
                        name=checked.name,
                        function_id=function_id,
                        directory=directory,
                        bindings=tuple(json.loads(raw) for raw in function.get_raw_bindings()),
                    )
                )
        except ImportError as error:
            raise WorkerLoadError(
                f"{type(error).__name__}: {str(error).rstrip('.')}. {MODULE_NOT_FOUND}"
            ) from error
        except Exception as error:  # the worker fails its init with any exception of the app's
            raise WorkerLoadError(f"{type(error).__name__}: {error}") from error
        self._functions = functions
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_thread_count())
        return listing

    async def invoke(self, request: Any) -> Any:
        invocation_id = str(request.invocation_id)
        function = self._functions.get(str(request.function_id))
        if function is None:
            return _failure(invocation_id, LookupError(f"no function {request.function_id}"))
        try:
            arguments = self._arguments(function, request)
            if function.is_async:
                result = await function.function(**arguments)
            else:
                assert self._pool is not None
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._pool, _call_sync, invocation_id, function.function, arguments
                )
            if result is not None and not function.has_return:
                raise RuntimeError(
                    "function %s without a $return binding returned a non-None value",
                    repr(function.name),
                )
            output_data = []
            for name, kind in function.outputs.items():
                value = arguments[name].get()
                if value is not None:
                    output_data.append(
                        rpc.ParameterBinding(
                            name=name, data=to_typed_data(_encode(kind.binding, value, kind.pytype))
                        )
                    )
            return_value = None
            if function.return_type is not None:
                kind = function.return_type
                return_value = to_typed_data(_encode(kind.binding, result, kind.pytype))
            return rpc.InvocationResponse(
                invocation_id=invocation_id,
                return_value=return_value,
                output_data=output_data,
                result=rpc.StatusResult(status=rpc.StatusResult.Success),
            )
        except Exception as error:
            return _failure(invocation_id, error)

    def _arguments(self, function: CheckedFunction, request: Any) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        for binding in request.input_data:
            kind = function.inputs[binding.name]
            converter = converter_for(kind.binding)
            metadata: dict[str, Any] = {}
            if converter.has_trigger_support() and request.trigger_metadata:
                metadata = {k: to_datum(v) for k, v in request.trigger_metadata.items()}
            if binding.WhichOneof("rpc_data") != "data":
                raise TypeError(f"Unknown ParameterBindingType: {binding.WhichOneof('rpc_data')}")
            datum = to_datum(binding.data)
            try:
                arguments[binding.name] = converter.decode(datum, trigger_metadata=metadata)
            except NotImplementedError as error:
                raise TypeError(
                    "unable to decode incoming TypedData: unsupported combination of TypedData "
                    f"field {binding.data.WhichOneof('data')!r} and expected binding type "
                    f"{converter}"
                ) from error
        if function.requires_context:
            arguments["context"] = InvocationContext(function, request)
        for name in function.outputs:
            arguments[name] = Out()
        return arguments

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _call_sync(invocation_id: str, function: Any, arguments: dict[str, Any]) -> Any:
    _invocation_local.invocation_id = invocation_id
    try:
        return function(**arguments)
    finally:
        _invocation_local.invocation_id = None


def _encode(binding: str, value: Any, pytype: Any) -> Any:
    try:
        return converter_for(binding).encode(value, expected_type=pytype)
    except NotImplementedError as error:
        raise TypeError(
            f'unable to encode outgoing TypedData: unsupported type "{binding}" for Python type '
            f'"{type(value).__name__}"'
        ) from error
