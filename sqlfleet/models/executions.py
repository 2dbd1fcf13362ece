"""Job executions: the rows of ``jobs.job_executions`` (job -> steps -> targets) and outputs."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from sqlfleet.engine import Engine
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models.common import DocumentModel
from sqlfleet.outcomes import dropped_messages_count

if TYPE_CHECKING:
    from sqlfleet.targets import StartedTarget, Target

# Bounds of what one target keeps (Elastic Jobs keeps nothing; these keep the job database small).
MAX_RESULT_ROWS = 1000
MAX_RESULT_COLUMNS = 200
MAX_RESULT_CELL_CHARS = 4000
MAX_RESULT_JSON_CHARS = 1_000_000
MAX_MESSAGES_PER_ATTEMPT = 1000
MAX_MESSAGE_CHARS = 4000
MAX_LAST_MESSAGE_CHARS = 4000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class ExecutionRow(DocumentModel):
    """Every column of Elastic Jobs' ``jobs.job_executions`` plus SQL Fleet's extras.

    A job execution row has ``step_id`` None; a step row has ``step_id`` and no target; a target
    row has both and its ``target_ordinal`` (0-based position among the step's targets).
    """

    job_execution_id: str
    job_name: str
    job_id: str
    job_version: int
    step_id: int | None
    step_name: str | None
    is_active: bool
    lifecycle: Lifecycle
    create_time: dt.datetime
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    current_attempts: int
    current_attempt_start_time: dt.datetime | None
    next_attempt_start_time: dt.datetime | None
    last_message: str | None
    target_type: str | None
    target_id: str | None
    target_group_name: str | None
    target_server_name: str | None
    target_database_name: str | None
    # SQL Fleet extras.
    instance_id: str | None = None
    target_ordinal: int | None = None
    target_engine: Engine | None = None
    target_port: int | None = None
    target_elastic_pool_name: str | None = None
    max_attempts: int | None = None
    cancel_requested: bool = False
    # On a job row: the execution whose chosen targets this one reruns.
    rerun_of_job_execution_id: str | None = None
    # On a target row: when receive (POST /api/executions/{id}/receive) handed its output out.
    received_time: dt.datetime | None = None


class TargetExecution(ExecutionRow):
    def started(self) -> StartedTarget:
        """This row as a target whose attempt starts now."""
        from sqlfleet.targets import StartedTarget  # targets -> dialects -> models: not at the top

        assert self.target_ordinal is not None, "a target row has its ordinal"
        return StartedTarget(
            self.target_ordinal, self.target, self.job_name, self.job_id, self.job_version
        )

    @property
    def target(self) -> Target:
        """The database this target row runs on."""
        from sqlfleet.targets import stored_target

        return stored_target(
            self.target_engine, self.target_server_name, self.target_port, self.target_database_name
        )


class TargetProgress(DocumentModel):
    """How far a step's targets are: how many in each lifecycle, their attempts so far, and
    the latest attempt start or end among them."""

    targets: int
    counts: dict[str, int]
    attempts: int
    last_change_time: dt.datetime | None = None


class StepExecution(ExecutionRow):
    targets: list[TargetExecution] = []
    # Filled by the API (GET /api/executions/{id}); None where it was not asked for.
    progress: TargetProgress | None = None


class JobExecution(ExecutionRow):
    steps: list[StepExecution] = []
    # The parameter values it runs with (secret ones as ***); None when the job has none.
    parameters: dict[str, str] | None = None
    # Filled by the API: the executions that rerun this one's targets, newest last.
    reruns: list[str] | None = None
    # Filled by the API: changes whenever the execution, a step or a target does (long-poll).
    version: str | None = None
    # Filled by the API when the document holds only the first ``top`` targets: pass it to
    # GET /api/executions/{id}/targets for the rest.
    targets_continuation: str | None = None
    # Filled by the API (Get-Job's columns): whether output is left to receive (targets not
    # received yet, or still running), the first line of each step's command, the servers.
    has_more_data: bool | None = None
    command: list[str] | None = None
    location: list[str] | None = None


class TargetPage(DocumentModel):
    """One page of an execution's target rows in (step, ordinal) order; ``continuation``
    fetches the next page (None on the last)."""

    items: list[TargetExecution]
    continuation: str | None = None


class ExecutionPage(DocumentModel):
    """One page of job executions, newest first; ``continuation`` fetches the next page."""

    items: list[JobExecution]
    continuation: str | None
    # ``?counts=true``: executions per lifecycle under the same filters, lifecycle aside.
    counts: dict[str, int] | None = None
    version: str | None = None


class TargetSpec(BaseModel):
    """A database a step runs on, as target expansion found it."""

    model_config = ConfigDict(frozen=True)

    target_type: str
    target_id: str | None = None
    engine: Engine = Engine.SQLSERVER
    server_name: str
    port: int | None = None
    database_name: str | None = None
    elastic_pool_name: str | None = None


class ResultColumn(DocumentModel):
    name: str
    type_name: str


class ResultSet(DocumentModel):
    """A target's first result set, bounded: at most ``MAX_RESULT_ROWS`` rows of JSON values.

    ``row_count`` counts the rows kept; ``truncated`` says rows, cells or columns were cut.
    """

    columns: list[ResultColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool

    @classmethod
    def bounded(
        cls, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]
    ) -> ResultSet:
        """Keep what fits the limits of ``rows`` (pyodbc rows or tuples), values made JSON-safe.

        ``columns`` are ``(name, type name)`` pairs (from ``cursor.description``). Reading stops
        at the first row beyond the limits, so a huge result set is never fully fetched.
        """
        truncated = len(columns) > MAX_RESULT_COLUMNS
        width = min(len(columns), MAX_RESULT_COLUMNS)
        kept: list[list[Any]] = []
        size = 0
        for row in rows:
            if len(kept) >= MAX_RESULT_ROWS:
                truncated = True
                break
            values = []
            for value in list(row)[:width]:
                safe, cut = _json_value(value)
                truncated = truncated or cut
                values.append(safe)
            size += len(json.dumps(values, ensure_ascii=False))
            if size > MAX_RESULT_JSON_CHARS:
                truncated = True
                break
            kept.append(values)
        return cls(
            columns=[ResultColumn(name=name, type_name=kind) for name, kind in columns[:width]],
            rows=kept,
            row_count=len(kept),
            truncated=truncated,
        )


def _json_value(value: Any) -> tuple[Any, bool]:
    if value is None or isinstance(value, (bool, int)):
        return value, False
    if isinstance(value, float):
        return (value if value == value and abs(value) != float("inf") else str(value)), False
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat(), False
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        text = str(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    else:
        text = str(value)
    if len(text) > MAX_RESULT_CELL_CHARS:
        return text[:MAX_RESULT_CELL_CHARS], True
    return text, False


class TargetMessage(DocumentModel):
    """A PRINT / informational message a target produced during one attempt."""

    attempt: int
    sequence: int
    message: str
    recorded_time: dt.datetime


class TargetAttempt(DocumentModel):
    """One attempt of a target: the ended ones that led to a retry, then the current or last
    one (``end_time`` None while it runs, ``message`` its error or outcome)."""

    attempt: int
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    lifecycle: Lifecycle
    message: str | None


class MessageDetail(DocumentModel):
    """What the driver said of a message of the last attempt (``sequence`` as its
    ``TargetMessage``): severity, SQLSTATE and the engine's number where it gives them."""

    sequence: int
    severity: str | None = None
    sqlstate: str | None = None
    number: int | None = None


class ErrorDetail(DocumentModel):
    """The error a target's last attempt ended with, as the engine gave it: its message,
    SQLSTATE, the engine's own number and the line of the script where the failed statement
    starts (where known); ``error_class`` says whether it was worth a retry and ``reason`` why
    (``sqlfleet.errorclasses``)."""

    message: str
    sqlstate: str | None = None
    number: int | None = None
    line: int | None = None
    error_class: str | None = None
    reason: str | None = None


class TargetDetail(DocumentModel):
    """Everything else a target's last attempt produced (``target_outcomes``): its result sets
    after the first (bounded), the row counts of its statements without a result set, the
    details of its messages and its error."""

    result_sets: list[ResultSet] = []
    result_sets_dropped: int = 0
    affected_rows: list[int] = []
    message_details: list[MessageDetail] = []
    error: ErrorDetail | None = None


class TargetOutput(DocumentModel):
    """What a target execution left behind (PowerShell's Receive-Job): ``result`` is its first
    result set, ``result_sets`` every one it kept (the first too)."""

    target: TargetExecution
    messages: list[TargetMessage]
    messages_dropped: int = 0  # messages beyond the kept ones (the last kept line says so)
    result: ResultSet | None
    attempts: list[TargetAttempt] = []
    result_sets: list[ResultSet] = []
    result_sets_dropped: int = 0  # beyond MAX_RESULT_SETS or the size bound
    affected_rows: list[int] = []  # of each statement without a result set, in order
    message_details: list[MessageDetail] = []
    error: ErrorDetail | None = None


class OutputPage(DocumentModel):
    """What the targets of one page produced, in (step, ordinal) order; ``continuation``
    fetches the next page (None on the last)."""

    items: list[TargetOutput]
    continuation: str | None = None
    # POST /api/executions/{id}/receive: whether output is left after this page.
    has_more_data: bool | None = None


def messages_dropped(messages: Sequence[TargetMessage]) -> int:
    """How many messages the attempts of ``messages`` dropped (what their last lines say)."""
    last: dict[int, TargetMessage] = {}
    for message in messages:
        if message.attempt not in last or message.sequence > last[message.attempt].sequence:
            last[message.attempt] = message
    return sum(dropped_messages_count(m.message) for m in last.values())


def bound_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
