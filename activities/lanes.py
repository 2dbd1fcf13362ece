"""Retry lanes that ``run_target`` starts, through the Durable Functions HTTP API.

``run_target`` is a plain (synchronous) function, and the SDK's durable client is asynchronous
(its HTTP session lives on the worker's event loop), so the activity takes the ``durableClient``
binding as the JSON text the host passes and makes the two calls it needs itself, at the
binding's ``rpcBaseUrl`` (where the SDK's client sends them too): whether the lane exists, and
if not, start it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from sqlfleet.durable import names
from sqlfleet.durable.messages import AttemptAnswer, RetryInput, TargetRun

HTTP_TIMEOUT_SECONDS = 60


class LaneStartFailed(Exception):
    """The Durable HTTP API refused to start a retry lane (the activity is retried)."""


def start_retry_lane(binding: str, run: TargetRun, answer: AttemptAnswer) -> None:
    """Start the retry lane of ``run``'s target unless it exists (an earlier delivery of the
    attempt started it): a ``target_retry`` orchestration for the next attempt at
    ``answer.retry_at``.

    Raises ``LaneStartFailed`` or ``OSError`` when the host does not answer as expected."""
    ref = run.step
    instance_id = names.retry_instance_id(ref.job_execution_id, ref.step_id, run.ordinal)
    lane = RetryInput(ref, run.ordinal, answer.attempt + 1, answer.retry_at).to_json()
    start_orchestration_once(binding, names.TARGET_RETRY, instance_id, lane)


def start_orchestration_once(
    binding: str, orchestrator: str, instance_id: str, body: dict[str, Any]
) -> bool:
    """Start orchestration ``instance_id`` of ``orchestrator`` unless it exists; answers whether
    it started it. Raises ``LaneStartFailed`` or ``OSError`` as ``start_retry_lane``."""
    base = json.loads(binding)["rpcBaseUrl"]
    quoted = quote(instance_id, safe="")
    status, text = _call("GET", f"{base}instances/{quoted}")
    if status in (200, 202):
        return False
    if status != 404:
        raise LaneStartFailed(f"looking up {instance_id} answered {status}: {text}")
    status, text = _call("POST", f"{base}orchestrators/{orchestrator}/{quoted}", body)
    if status not in (200, 201, 202):
        raise LaneStartFailed(f"starting {instance_id} answered {status}: {text}")
    return True


def _call(method: str, url: str, body: Any = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return int(response.status), response.read().decode(errors="replace")[:1000]
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")[:1000]
