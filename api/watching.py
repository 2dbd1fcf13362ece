"""Watching executions without polling hard: versions and long-polls.

Every watchable document (one execution, a page of executions) carries a ``version``: a digest
of what it says, which changes whenever the execution, one of its steps or any of its targets
changes lifecycle or starts an attempt (a page: whenever an execution on it or the counts do).
A client passes the version it has as ``since`` with ``wait`` seconds; the answer comes as soon
as the version differs, or when the wait ends (then with the same version). The same request
without ``since`` answers at once. This is a long-poll rather than Server-Sent Events because
the Functions Python worker answers an HTTP trigger with one whole response (streaming needs
an extension of its own), and because it works the same through every proxy and on Azure's
230-second front-end limit.

While it waits, a request holds no thread: the handler is ``async``. A write to the job
database by this process wakes it at once (``sqlfleet.changes``); it also re-reads every
``SQLFLEET_WATCH_POLL_MS`` (in the loop's executor), so a change made by another instance of
the app is seen too.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import TypeVar

import azure.functions as func
from pydantic import BaseModel

from api.blueprint import QueryParameter
from api.documents import query_int
from sqlfleet import changes
from sqlfleet.errors import BadRequest
from sqlfleet.models import JobExecution
from sqlfleet.runtime import job_store
from sqlfleet.settings import get_settings

MAX_WAIT_SECONDS = 60
# How long a woken long-poll lets a burst of writes pass before it reads (seconds).
COALESCE_SECONDS = 0.05

DocumentT = TypeVar("DocumentT", bound=BaseModel)

WATCH_QUERY = (
    QueryParameter("since", {"type": "string"}, "the version of an earlier answer (long-poll)"),
    QueryParameter(
        "wait",
        {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
        "with since: answer once the version differs, or after this many seconds",
    ),
)


def version_of(document: BaseModel) -> str:
    """A digest of ``document`` (its ``version`` field left out)."""
    text = document.model_dump_json(exclude={"version"})
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def wait_parameters(req: func.HttpRequest) -> tuple[str | None, float]:
    """``since`` and ``wait`` (seconds, 0 to ``MAX_WAIT_SECONDS``). Raises ``BadRequest``."""
    wait = query_int(req, "wait") or 0
    if wait > MAX_WAIT_SECONDS:
        raise BadRequest("wait", f"expected a number of seconds from 0 to {MAX_WAIT_SECONDS}")
    since = req.params.get("since") or None
    if since is not None and (len(since) > 64 or not since.isalnum()):
        raise BadRequest("since", "expected the version of an earlier answer")
    return since, float(wait)


async def when_changed(
    read: Callable[[], DocumentT], since: str | None, wait: float
) -> tuple[DocumentT, str]:
    """``read()`` and its version, once the version differs from ``since`` or ``wait``
    seconds have passed (at once without ``since``)."""
    deadline = time.monotonic() + wait
    poll_seconds = get_settings().watch_poll_ms / 1000
    seen = changes.generation()
    document = await asyncio.to_thread(read)
    version = version_of(document)
    while since is not None and version == since:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        # Woken by a write of this process at once; by another instance's, on the next poll.
        if await changes.next_change(seen, min(poll_seconds, left)):
            # Writes come in bursts (every target of a step ends within moments): one read
            # for the burst, not one per write.
            await asyncio.sleep(min(COALESCE_SECONDS, max(0.0, deadline - time.monotonic())))
        seen = changes.generation()
        document = await asyncio.to_thread(read)
        version = version_of(document)
    return document, version


UNTIL_QUERY = QueryParameter(
    "until",
    {"type": "string", "enum": ["ended"]},
    "with wait: answer once the execution has ended (or after wait seconds), whatever changes "
    "before",
)


def until_parameter(req: func.HttpRequest) -> bool:
    """Whether the request waits for the end (``until=ended``). Raises ``BadRequest``."""
    until: str | None = req.params.get("until")
    if until not in (None, "", "ended"):
        raise BadRequest("until", "expected 'ended'")
    return until == "ended"


async def until_ended(check: Callable[[], bool], wait: float) -> None:
    """Return once ``check()`` (a cheap read, run in the loop's executor, that answers whether
    something ended) answers True, or after ``wait`` seconds: re-checked when this process
    commits a write that ended rows (``changes.mark_ended``), not on every target's write, and
    every ``SQLFLEET_WATCH_POLL_MS`` for another instance's."""
    deadline = time.monotonic() + wait
    poll_seconds = get_settings().watch_poll_ms / 1000
    seen = changes.generation(endings=True)
    while not await asyncio.to_thread(check):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await changes.next_change(seen, min(poll_seconds, left), endings=True)
        seen = changes.generation(endings=True)


def versioned(document: BaseModel, version: str) -> func.HttpResponse:
    """``document`` with its ``version`` (also as the ``ETag``), never cached by a browser."""
    body = document.model_copy(update={"version": version}).model_dump_json()
    return func.HttpResponse(
        body,
        status_code=200,
        mimetype="application/json",
        headers={"ETag": f'"{version}"', "Cache-Control": "no-store"},
    )


def watched_execution(execution_id: str) -> JobExecution:
    """The execution without target rows, with each step's progress and its reruns: what its
    version is the digest of."""
    store = job_store()
    execution = store.get_job_execution(execution_id, include_targets=False)
    progress = store.target_progress(execution_id)
    steps = [
        step.model_copy(update={"progress": progress.get(step.step_id or 0)})
        for step in execution.steps
    ]
    return execution.model_copy(update={"steps": steps, "reruns": store.list_reruns(execution_id)})
