"""The tasks DTFx awaits while it walks an orchestrator's actions (reference §2.4, §2.5).

A leaf is one scheduled thing (activity, timer, sub-orchestration, entity call, external event);
compound tasks mirror .NET's ``Task.WhenAll``/``Task.WhenAny`` and DTFx's ``RetryInterceptor``.
They only keep state; the walk (:class:`devhost.replay.ActionWalk`) schedules and completes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from devhost.durablehttp import DurableHttpRequest, PollFailed, location_of, poll_delay

PENDING, SUCCEEDED, FAILED, CANCELED = 0, 1, 2, 3


class Walker(Protocol):
    """What a task may ask of the walk that owns it."""

    now: dt.datetime
    http_async_sleep: dt.timedelta

    def finish(self, node: Node, state: int) -> None: ...

    def attempt(self, loop: RetryLoop) -> None: ...

    def new_timer(self, fire_at: dt.datetime, parent: Node | None) -> Leaf: ...

    def http_request(self, request: DurableHttpRequest, parent: Node | None) -> Leaf: ...


class Node:
    """Something the walk awaits; ``top`` is the top-level action it belongs to."""

    __slots__ = ("parent", "top", "state")

    def __init__(self, parent: Node | None) -> None:
        self.parent = parent
        self.top: Node = parent.top if parent is not None else self
        self.state = PENDING

    def child_done(self, walk: Walker, child: Node) -> None:
        raise NotImplementedError


class Leaf(Node):
    __slots__ = ("kind", "task_id", "result")

    def __init__(self, parent: Node | None, kind: str, task_id: int = -1) -> None:
        super().__init__(parent)
        self.kind = kind
        self.task_id = task_id
        self.result: str | None = None  # TaskCompleted.Result, kept for durable HTTP only


class WhenAll(Node):
    """.NET ``Task.WhenAll``: waits for every child, even after one failed."""

    __slots__ = ("remaining", "failed")

    def __init__(self, parent: Node | None, size: int) -> None:
        super().__init__(parent)
        self.remaining = size
        self.failed = False

    def child_done(self, walk: Walker, child: Node) -> None:
        self.remaining -= 1
        self.failed = self.failed or child.state == FAILED
        if self.remaining == 0:
            walk.finish(self, FAILED if self.failed else SUCCEEDED)


class WhenAny(Node):
    __slots__ = ()

    def child_done(self, walk: Walker, child: Node) -> None:
        walk.finish(self, SUCCEEDED)


class RetryLoop(Node):
    """DTFx ``RetryInterceptor``: attempt, then a timer after every failure (the last one too)."""

    __slots__ = (
        "kind",
        "action",
        "attempt",
        "max_attempts",
        "first_attempt",
        "final",
        "last_attempt",
        "final_timer",
    )

    def __init__(self, parent: Node | None, kind: str, action: dict[str, Any], now: dt.datetime):
        super().__init__(parent)
        self.kind = kind
        self.action = action
        self.attempt = 0
        options = action.get("retryOptions") or {}
        self.max_attempts = max(1, int(options.get("maxNumberOfAttempts") or 1))
        self.first_attempt = now
        self.final = False
        self.last_attempt = -1  # sequence ids, for rewind
        self.final_timer: int | None = None

    def next_delay(self, now: dt.datetime) -> dt.timedelta:
        options = self.action.get("retryOptions") or {}
        timeout_ms = options.get("retryTimeoutInMilliseconds")
        if timeout_ms is not None and now >= self.first_attempt + dt.timedelta(
            milliseconds=timeout_ms
        ):
            return dt.timedelta(0)
        delay_ms = float(options.get("firstRetryIntervalInMilliseconds") or 0)
        delay_ms *= float(options.get("backoffCoefficient") or 1.0) ** self.attempt
        cap_ms = options.get("maxRetryIntervalInMilliseconds")
        if cap_ms is not None:
            delay_ms = min(delay_ms, float(cap_ms))
        return dt.timedelta(milliseconds=delay_ms)

    def child_done(self, walk: Walker, child: Node) -> None:
        assert isinstance(child, Leaf)
        if child.kind == "timer":
            if self.final:
                walk.finish(self, FAILED)
            else:
                self.attempt += 1
                walk.attempt(self)
        elif child.state == SUCCEEDED:
            walk.finish(self, SUCCEEDED)
        elif self.attempt + 1 >= self.max_attempts:
            self.final = True  # DTFx's "dummy timer for back-compat": fires at once
            self.final_timer = walk.new_timer(walk.now, self).task_id
        else:
            delay = self.next_delay(walk.now)
            if delay <= dt.timedelta(0):
                walk.finish(self, FAILED)
            else:
                walk.new_timer(walk.now + delay, self)


class HttpPoll(Node):
    """The extension's ``CallHttpAsync`` for a request with ``asynchronousPatternEnabled``: while
    the answer is a 202, a timer (``Retry-After`` seconds, else the default sleep) and then a GET
    of its ``Location``, each a sequence id of its own. Faults (FAILED) where the extension's loop
    throws: the request failed, or a 202 without a usable ``Retry-After`` or ``Location``."""

    __slots__ = ("request", "answer")

    def __init__(self, parent: Node | None, request: DurableHttpRequest) -> None:
        super().__init__(parent)
        self.request = request
        self.answer: str | None = None

    def child_done(self, walk: Walker, child: Node) -> None:
        assert isinstance(child, Leaf)
        if child.state != SUCCEEDED:
            walk.finish(self, FAILED)
        elif child.kind == "timer":
            try:
                location = location_of(self.answer)
            except PollFailed:
                walk.finish(self, FAILED)
                return
            self.request = self.request.location_poll(location)
            walk.http_request(self.request, self)
        else:
            self.answer = child.result
            try:
                delay = poll_delay(child.result, walk.http_async_sleep)
            except PollFailed:
                walk.finish(self, FAILED)
                return
            if delay is None:
                walk.finish(self, SUCCEEDED)
            else:
                walk.new_timer(walk.now + delay, self)
