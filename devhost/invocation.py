"""Calling user functions the way the Python worker does (reference §7.4).

Arguments go by keyword. ``async def`` functions run on the host's single event loop (the one
the HTTP server runs on, as in the worker, so the SDK's shared aiohttp session stays on one
loop); plain HTTP and timer functions run in a thread pool of ``PYTHON_THREADPOOL_THREAD_COUNT``
threads, plain activities on the engine's activity threads (``maxConcurrentActivityFunctions``
of them: on Azure, set ``PYTHON_THREADPOOL_THREAD_COUNT`` to match). A ``context`` parameter
that is not a binding receives a ``func.Context``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.functions import _abc as functions_abc

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"


@dataclass(frozen=True)
class ClientBindingSpec:
    """A ``durableClient`` input binding of a function."""

    name: str
    task_hub: str | None = None
    connection_name: str | None = None


@dataclass(frozen=True)
class UserFunction:
    """One indexed function: what to call and how to pass its arguments."""

    name: str
    trigger_type: str
    trigger_param: str
    function: Callable[..., Any]
    is_async: bool
    wants_context: bool
    client_bindings: tuple[ClientBindingSpec, ...]
    directory: str


def describe(
    name: str,
    trigger_type: str,
    trigger_param: str,
    function: Callable[..., Any],
    client_bindings: tuple[ClientBindingSpec, ...],
    directory: str,
) -> UserFunction:
    """Build a UserFunction, reading the signature once (``context`` injection, sync/async)."""
    bound = {trigger_param, *(b.name for b in client_bindings)}
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    wants_context = "context" in parameters and "context" not in bound
    return UserFunction(
        name=name,
        trigger_type=trigger_type,
        trigger_param=trigger_param,
        function=function,
        is_async=inspect.iscoroutinefunction(function),
        wants_context=wants_context,
        client_bindings=client_bindings,
        directory=directory,
    )


class _TraceContext(functions_abc.TraceContext):
    def __init__(self, trace_parent: str = "", trace_state: str = "") -> None:
        self._parent, self._state = trace_parent, trace_state

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(functions_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """``func.Context`` for one invocation."""

    def __init__(self, function: UserFunction, invocation_id: str | None = None) -> None:
        self._function = function
        self._invocation_id = invocation_id or str(uuid.uuid4())
        self._local = threading.local()
        self._local.invocation_id = self._invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function.name

    @property
    def function_directory(self) -> str:
        return self._function.directory

    @property
    def trace_context(self) -> functions_abc.TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> functions_abc.RetryContext:
        return _RetryContext()


class FunctionRunner:
    """Runs user functions: ``call`` from the event loop, ``call_blocking`` from other threads.

    ``bind_loop`` must be called (from the loop) before ``call_blocking`` can run ``async def``
    functions; until then they run on a private loop in the calling thread.
    """

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        settings = os.environ if settings is None else settings
        default = min(32, (os.cpu_count() or 1) + 4)
        try:
            count = int(settings.get(THREAD_COUNT_SETTING) or default)
        except ValueError as error:
            raise ValueError(
                f"setting {THREAD_COUNT_SETTING}='{settings.get(THREAD_COUNT_SETTING)}' must be "
                "a whole number of threads"
            ) from error
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, count), thread_name_prefix="function"
        )
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def arguments(
        self,
        function: UserFunction,
        trigger_value: Any,
        clients: Mapping[str, str],
        invocation_id: str | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for one invocation: trigger, durable clients, ``context``."""
        kwargs: dict[str, Any] = {function.trigger_param: trigger_value, **clients}
        if function.wants_context:
            kwargs["context"] = InvocationContext(function, invocation_id)
        return kwargs

    async def call(self, function: UserFunction, kwargs: dict[str, Any]) -> Any:
        """Await an async function; run a sync one in the thread pool. Raises what it raises."""
        if function.is_async:
            return await function.function(**kwargs)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._pool, lambda: function.function(**kwargs))
        if inspect.isawaitable(result):
            return await result
        return result

    def call_blocking(self, function: UserFunction, kwargs: dict[str, Any]) -> Any:
        """Call from a worker thread (not the loop's): async functions go to the host loop."""
        if not function.is_async:
            result = function.function(**kwargs)
            if not inspect.isawaitable(result):
                return result
            coroutine = _as_coroutine(result)
        else:
            coroutine = function.function(**kwargs)
        loop = self._loop
        if loop is None or loop.is_closed():
            return asyncio.run(coroutine)
        if _running_loop() is loop:
            coroutine.close()
            raise RuntimeError(
                f"function '{function.name}' is async and was called from the event loop "
                "thread; call it with FunctionRunner.call instead"
            )
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
