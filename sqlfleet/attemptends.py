"""How an attempt that ran ends: its lifecycle, message and retry time (``ending``), and what
the job database keeps of its outcome (``result_of``: the first result set; ``detail_of``:
the other result sets, row counts, message details and the error with its class)."""

from __future__ import annotations

import datetime as dt
import json

from sqlfleet import errorclasses
from sqlfleet.engine import Engine
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models.executions import (
    MAX_MESSAGES_PER_ATTEMPT,
    MAX_RESULT_JSON_CHARS,
    ErrorDetail,
    MessageDetail,
    ResultSet,
    TargetDetail,
    bound_message,
)
from sqlfleet.models.jobs import JobStep, RetryOn
from sqlfleet.outcomes import ResultSetOutcome, ScriptOutcome
from sqlfleet.retries import retry_delay

MAX_AFFECTED_ROWS = 1000  # row counts kept per target (statements beyond are summed in rowcount)


def ending(
    outcome: ScriptOutcome, step: JobStep, number: int, engine: Engine, now: dt.datetime
) -> tuple[Lifecycle, str | None, dt.datetime | None]:
    """(lifecycle, message, next attempt time) of attempt ``number`` that ran and ended at
    ``now`` (the job store's clock). An error that cannot pass by retrying
    (``sqlfleet.errorclasses``) fails at once, unless the step retries all; otherwise the
    step's retry policy (``sqlfleet.retries.retry_delay``) says when the next attempt starts."""
    if outcome.succeeded:
        return Lifecycle.SUCCEEDED, success_message(outcome), None
    if outcome.canceled:
        return Lifecycle.CANCELED, outcome.error or "canceled", None
    if outcome.timed_out:
        return Lifecycle.TIMED_OUT, outcome.error, None
    kind = error_class(outcome, engine)
    if not kind.retried and step.retry_on != RetryOn.ALL:
        note = errorclasses.not_retried_note(kind) if step.retry_attempts else None
        return Lifecycle.FAILED, _with_note(outcome.error, note), None
    if number <= step.retry_attempts:
        delay = retry_delay(
            number,
            step.initial_retry_interval_seconds,
            step.retry_interval_backoff_multiplier,
            step.maximum_retry_interval_seconds,
        )
        return Lifecycle.WAITING_FOR_RETRY, outcome.error, now + dt.timedelta(seconds=delay)
    return Lifecycle.FAILED, outcome.error, None


def error_class(outcome: ScriptOutcome, engine: Engine) -> errorclasses.ErrorClass:
    return errorclasses.classify(engine, outcome.sqlstate, outcome.error_number, outcome.error)


def _with_note(message: str | None, note: str | None) -> str | None:
    return message if note is None else f"{message or 'failed'} ({note})"


def success_message(outcome: ScriptOutcome) -> str:
    sets = len(outcome.result_sets)
    rows = f"; {len(outcome.rows)} row(s)" if outcome.columns is not None else ""
    more = f" in the first of {sets} result sets" if sets > 1 else ""
    return f"succeeded in {outcome.elapsed_seconds:.2f} s{rows}{more}"


def result_of(outcome: ScriptOutcome) -> ResultSet | None:
    """The first result set of ``outcome``, as the job database keeps it."""
    first = outcome.result_set(0)
    if first is None:
        if outcome.columns is None:
            return None
        first = ResultSetOutcome(outcome.columns, outcome.rows, outcome.truncated)
    return _bounded(first)


def _bounded(kept: ResultSetOutcome) -> ResultSet:
    result = ResultSet.bounded([(c.name, c.kind) for c in kept.columns], kept.rows)
    if kept.truncated and not result.truncated:
        result = result.model_copy(update={"truncated": True})
    return result


def detail_of(outcome: ScriptOutcome, engine: Engine) -> TargetDetail | None:
    """What ``target_outcomes`` keeps of ``outcome`` (None: nothing beyond the first result
    set and the message texts). Result sets after the first are kept while all of them stay
    within ``MAX_RESULT_JSON_CHARS`` together; the rest are counted."""
    details = [
        MessageDetail(sequence=index, **detail)
        for index, detail in enumerate(outcome.message_details[:MAX_MESSAGES_PER_ATTEMPT])
        if any(value is not None for value in detail.values())
    ]
    if (
        len(outcome.result_sets) < 2
        and not (outcome.result_sets_dropped or outcome.affected_rows or details)
        and outcome.error is None
    ):
        return None  # the common case, without building the models to compare
    more: list[ResultSet] = []
    dropped = outcome.result_sets_dropped
    size = 0
    for index, kept in enumerate(outcome.result_sets):
        bounded = _bounded(kept)
        size += len(json.dumps(bounded.rows, ensure_ascii=False))
        if index == 0:
            continue
        if size > MAX_RESULT_JSON_CHARS:
            dropped += 1
            continue
        more.append(bounded)
    error = None
    if outcome.error is not None:
        found = (
            error_class(outcome, engine) if not (outcome.timed_out or outcome.canceled) else None
        )
        error = ErrorDetail(
            message=bound_message(outcome.error),
            sqlstate=outcome.sqlstate,
            number=outcome.error_number,
            line=outcome.error_line,
            error_class=found.kind if found else None,
            reason=found.reason if found else None,
        )
    detail = TargetDetail(
        result_sets=more,
        result_sets_dropped=dropped,
        affected_rows=outcome.affected_rows[:MAX_AFFECTED_ROWS],
        message_details=details,
        error=error,
    )
    return None if detail == TargetDetail() else detail
