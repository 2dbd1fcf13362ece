"""Durable entities: request messages, batch contexts and responses (reference §6).

An entity is addressed as ``@name@key`` (name lower-cased, key case-sensitive). Requests wait in
the store's entity inbox; one batch at a time per entity runs through the app's entity function
and its responses go back to the calling orchestrations as ``EventRaised{Name=<request id>}``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from devhost import history as h
from devhost.catalog import FunctionCatalog
from devhost.logs import log_durable_invocation
from devhost.workitems import EntityRecord

ENTITY_BATCH_LIMIT = 5000
"""Operations per batch, as the extension's default on dedicated plans."""

_log = logging.getLogger("devhost.engine")


def entity_instance_id(name: str, key: str) -> str:
    return f"@{name.lower()}@{key}"


def split_entity_instance_id(entity_id: str) -> tuple[str, str]:
    """``@name@key`` -> (name, key); the key may itself hold '@'."""
    parts = entity_id.split("@", 2)
    if len(parts) != 3 or parts[0] != "":
        raise ValueError(f"'{entity_id}' is not an entity instance id of the form @name@key")
    return parts[1], parts[2]


def client_signal(operation: str, input_json: str | None) -> dict[str, Any]:
    """The RequestMessage a client signal produces (no caller waits for a response)."""
    message: dict[str, Any] = {"op": operation, "signal": True}
    if input_json is not None:
        # ``input_json`` is the request's input as JSON text, which the message carries as is:
        # the SDK's client sends json.dumps(json.dumps(value)), the HTTP API parses that body
        # once, and the entity's get_input() decodes the text twice, giving back the value (the
        # same message an orchestrator's signal_entity produces).
        message["input"] = input_json
    message["id"] = str(uuid.uuid4())
    return message


@dataclass(frozen=True)
class Response:
    """An entity response for a waiting orchestration (delivered to its inbox)."""

    instance_id: str
    execution_id: str | None
    event: h.Event


@dataclass
class BatchOutcome:
    exists: bool
    state: str | None
    responses: list[Response] = field(default_factory=list)


class EntityBatchRunner:
    """Runs one batch of operations through the app's entity function."""

    def __init__(self, index: FunctionCatalog) -> None:
        self.index = index

    def run(
        self,
        entity_id: str,
        record: EntityRecord | None,
        messages: list[dict[str, Any]],
        now: dt.datetime,
    ) -> BatchOutcome:
        """Never raises: a crashing entity function fails every operation of the batch."""
        name, key = split_entity_instance_id(entity_id)
        exists = record is not None
        state = record.state if record is not None else None
        found = self.index.entity(name)
        if found is None:
            error = str(self.index.unknown("entity", name))
            return self._respond_all(messages, now, error, exists, state)
        registered, invoker = found
        context = json.dumps(
            {
                "self": {"name": name, "key": key},
                "exists": exists,
                "state": state,
                "batch": [
                    {
                        "name": message.get("op"),
                        "input": message.get("input"),
                        "isSignal": bool(message.get("signal")),
                    }
                    for message in messages
                ],
            }
        )
        started = time.perf_counter()
        try:
            result = json.loads(invoker(context))
            results = result["results"]
            if len(results) != len(messages):
                raise ValueError(f"{len(results)} results for {len(messages)} operations")
        except Exception as exc:
            log_durable_invocation(registered, entity_id, started, failed=True)
            _log.debug("entity %s batch failed: %s", entity_id, type(exc).__name__)
            return self._respond_all(messages, now, f"{type(exc).__name__}: {exc}", exists, state)
        log_durable_invocation(registered, entity_id, started, failed=False)
        outcome = BatchOutcome(
            exists=bool(result.get("entityExists")), state=result.get("entityState")
        )
        if not outcome.exists:
            outcome.state = None
        for message, operation in zip(messages, results, strict=True):
            payload: dict[str, Any] = {"result": operation.get("result")}
            if operation.get("isError"):
                payload["exceptionType"] = "Error"
            self._respond(outcome, message, payload, now)
        return outcome

    def _respond_all(
        self,
        messages: list[dict[str, Any]],
        now: dt.datetime,
        error: str,
        exists: bool,
        state: str | None,
    ) -> BatchOutcome:
        outcome = BatchOutcome(exists=exists, state=state)
        for message in messages:
            self._respond(
                outcome, message, {"result": json.dumps(error), "exceptionType": "Error"}, now
            )
        return outcome

    @staticmethod
    def _respond(
        outcome: BatchOutcome, message: dict[str, Any], payload: dict[str, Any], now: dt.datetime
    ) -> None:
        parent = message.get("parent")
        if message.get("signal") or not isinstance(parent, str):
            return
        event = h.event_raised(now, str(message.get("id")), json.dumps(payload))
        outcome.responses.append(Response(parent, message.get("parentExecution"), event))
