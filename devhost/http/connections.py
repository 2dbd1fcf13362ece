"""Connection deadlines: an idle connection, or one that sends half a request, is closed.

aiohttp has a keep-alive timeout, but (before 3.14) no deadline for a connection that never
completes a request head, so a client could hold any number of sockets open by sending a few
bytes and then nothing. Each connection here is wrapped in a :class:`GuardedConnection` that
keeps one deadline at a time, as Kestrel's ``KeepAliveTimeout`` and ``RequestHeadersTimeout``:

- idle (just opened, or a response sent): closed after the keep-alive timeout;
- a request head arriving (first byte seen, handler not yet called): closed after the read
  timeout;
- a request being handled: no deadline here (the body read has its own, in
  :func:`devhost.http.limits.read_body`; a function may run as long as it runs).

When the host stops, aiohttp waits for every request still being handled, even one whose client
has hung up. A long-poll left behind by a closed browser tab would hold the stop for its whole
wait, so :meth:`GuardedServer.cancel_abandoned_reads` cancels those first (reads only: a write
whose client has gone still runs to its end).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from devhost.http.limits import HttpLimits

# Requests that change nothing: cancelling one whose client has gone loses no work.
READ_METHODS = frozenset({"GET", "HEAD"})


class _Phase(enum.Enum):
    IDLE = "idle"
    HEAD = "reading a request head"
    BUSY = "handling a request"


class GuardedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the deadline of its current phase."""

    def __init__(self, inner: asyncio.Protocol, limits: HttpLimits, server: GuardedServer) -> None:
        self._inner = inner
        self._limits = limits
        self._server = server
        self._phase = _Phase.IDLE
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None

    # asyncio.Protocol, forwarded to aiohttp's handler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.guards[transport] = self
        self._arm(self._limits.keepalive_timeout)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._phase is _Phase.IDLE:
            self._phase = _Phase.HEAD
            self._arm(self._limits.read_timeout)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._transport is not None:
            self._server.guards.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # phases, told by the server around each request

    def request_started(self) -> None:
        self._phase = _Phase.BUSY
        self._disarm()

    def request_finished(self) -> None:
        self._phase = _Phase.IDLE
        self._arm(self._limits.keepalive_timeout)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._transport is not None and self._phase is not _Phase.BUSY:
            self._transport.close()


class GuardedServer(web.Server):
    """aiohttp's low-level server whose connections keep deadlines."""

    def __init__(self, handler: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(handler, keepalive_timeout=limits.keepalive_timeout, **kwargs)
        self.limits = limits
        self.guards: dict[asyncio.BaseTransport, GuardedConnection] = {}
        # By id: a request is a mapping, so it cannot be hashed.
        self.in_flight: dict[int, web.BaseRequest] = {}

    def __call__(self) -> GuardedConnection:  # type: ignore[override]
        return GuardedConnection(super().__call__(), self.limits, self)

    @contextmanager
    def handling(self, request: web.BaseRequest) -> Iterator[None]:
        """Marks the request's connection busy while its handler runs."""
        guard = self.guards.get(request.transport) if request.transport is not None else None
        if guard is not None:
            guard.request_started()
        self.in_flight[id(request)] = request
        try:
            yield
        finally:
            self.in_flight.pop(id(request), None)
            if guard is not None:
                guard.request_finished()

    def cancel_abandoned_reads(self) -> int:
        """Cancel the handlers of GET and HEAD requests whose client has hung up (nobody will
        read their answer); answers how many."""
        abandoned = [
            request
            for request in self.in_flight.values()
            if request.method in READ_METHODS
            and (request.transport is None or request.transport.is_closing())
        ]
        for request in abandoned:
            request.task.cancel()
        return len(abandoned)
