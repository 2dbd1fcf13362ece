"""The host's side of an invocation: an ``InvocationRequest`` to the worker, its answer back.

The host passes the trigger and every ``durableClient`` binding as ``TypedData`` (reference §7.4)
and reads the return value the same way; how they become Python values is the worker's business
(:mod:`devhost.languageworker`). Invocations run on the host's single event loop, as the worker
runs them on its own: ``async def`` functions there, plain ones in the worker's thread pool. The
engine's threads call :meth:`Invoker.call_blocking`, which hands the request to that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from devhost import rpc
from devhost.languageworker import FunctionFailed, LanguageWorker, failure_of


@dataclass(frozen=True)
class ClientBindingSpec:
    """A ``durableClient`` input binding of a function."""

    name: str
    task_hub: str | None = None
    connection_name: str | None = None


@dataclass(frozen=True)
class IndexedFunction:
    """One function of the app, as the host knows it from the worker's metadata."""

    name: str
    function_id: str
    trigger_type: str
    trigger_param: str
    client_bindings: tuple[ClientBindingSpec, ...] = ()


def typed_text(value: str) -> Any:
    return rpc.TypedData(string=value)


def text_of(data: Any) -> str | None:
    """The text of a returned ``TypedData`` (string or json), or None when there is none."""
    if data is None:
        return None
    kind = data.WhichOneof("data")
    if kind in ("string", "json"):
        return str(getattr(data, kind))
    if kind == "bytes":
        return bytes(data.bytes).decode("utf-8")
    if kind is None:
        return None
    raise FunctionFailed(f"TypeError: the function returned {kind} data where text was expected")


class Invoker:
    """Sends invocations to the worker; ``bind_loop`` before calling from other threads."""

    def __init__(self, worker: LanguageWorker) -> None:
        self.worker = worker
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def request(
        self,
        function: IndexedFunction,
        trigger: Any,
        clients: Mapping[str, str],
        invocation_id: str | None = None,
    ) -> Any:
        inputs = [rpc.ParameterBinding(name=function.trigger_param, data=trigger)]
        inputs += [rpc.ParameterBinding(name=n, data=typed_text(v)) for n, v in clients.items()]
        return rpc.InvocationRequest(
            invocation_id=invocation_id or str(uuid.uuid4()),
            function_id=function.function_id,
            input_data=inputs,
        )

    async def call(
        self,
        function: IndexedFunction,
        trigger: Any,
        clients: Mapping[str, str],
        invocation_id: str | None = None,
    ) -> Any:
        """The function's return value as ``TypedData`` (or None); raises FunctionFailed."""
        response = await self.worker.invoke(self.request(function, trigger, clients, invocation_id))
        failure = failure_of(response)
        if failure is not None:
            raise failure
        return response.return_value

    def call_blocking(
        self,
        function: IndexedFunction,
        trigger: Any,
        clients: Mapping[str, str],
        *,
        timeout: float | None = None,
    ) -> Any:
        """:meth:`call` from a thread that is not the loop's (the engine's workers).

        Past ``timeout`` seconds it stops waiting and raises FunctionFailed; the function itself
        runs on (a thread cannot be stopped), but its caller is free."""
        coroutine = self.call(function, trigger, clients)
        loop = self._loop
        if loop is None or loop.is_closed():
            return asyncio.run(self._bounded(function, coroutine, timeout))
        if _running_loop() is loop:
            coroutine.close()
            raise RuntimeError(
                f"function '{function.name}' was invoked from the event loop thread with "
                "call_blocking; await Invoker.call instead"
            )
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise _timed_out(function, timeout) from None

    @staticmethod
    async def _bounded(
        function: IndexedFunction, coroutine: Coroutine[Any, Any, Any], timeout: float | None
    ) -> Any:
        try:
            return await asyncio.wait_for(coroutine, timeout)
        except TimeoutError:
            raise _timed_out(function, timeout) from None

    def close(self) -> None:
        self.worker.close()


_KINDS = {
    "orchestrationTrigger": "orchestrator",
    "activityTrigger": "activity",
    "entityTrigger": "entity",
}


def _timed_out(function: IndexedFunction, timeout: float | None) -> FunctionFailed:
    return FunctionFailed(
        f"TimeoutError: the {_KINDS.get(function.trigger_type, 'function')} function "
        f"'{function.name}' ran for more than {timeout:g} s without returning. Orchestrator code "
        "must not block (no I/O, no sleeping): do such work in activities and wait with durable "
        "timers."
    )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
