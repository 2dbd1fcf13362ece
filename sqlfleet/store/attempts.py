"""One attempt of a step on one target, in two transactions (part of ``SqlJobStore``).

``start_target_attempt`` and ``finish_target_attempt`` do what ``run_target`` otherwise asks of
the store in seven calls (read the target, read the execution twice, look for a concurrent
execution, begin the attempt, record the result, move the lifecycle): on a host that runs
hundreds of targets a second, each transaction costs more than the SQL in it, and each
statement more than the work in it. So a start reads the target row and what it needs of its
execution's row in one statement, an attempt that ends as expected (it was in progress) moves
its row with one ``UPDATE ... RETURNING``, and concurrent calls share transactions
(``Database.write_shared``). Both are safe to repeat (activities run at least once).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlfleet.errors import NotFound
from sqlfleet.lifecycle import TRANSITIONS, Lifecycle, check_transition
from sqlfleet.models import ResultSet, TargetExecution
from sqlfleet.models.executions import (
    MAX_MESSAGES_PER_ATTEMPT,
    TargetDetail,
    bound_message,
)
from sqlfleet.outcomes import dropped_messages_line
from sqlfleet.store.database import Database
from sqlfleet.store.rows import (
    CONCURRENT_TARGET,
    JOB_CANCEL,
    JOB_CREATED,
    E,
    Row,
    apply_lifecycle,
    cancel_rows,
    execution_row,
    lifecycle_values,
    row_document,
    row_name,
    targets_for_start,
    update_row,
    uuid_text,
)
from sqlfleet.store.tables import (
    target_attempts,
    target_messages,
    target_outcomes,
    target_results,
)

_DELETE_RESULT = target_results.delete().where(target_results.c.row_id == sa.bindparam("row_id"))
_INSERT_RESULT = target_results.insert()
_DELETE_MESSAGES = target_messages.delete().where(
    target_messages.c.row_id == sa.bindparam("row_id"),
    target_messages.c.attempt == sa.bindparam("attempt"),
)
_INSERT_MESSAGES = target_messages.insert()
_DELETE_DETAIL = target_outcomes.delete().where(target_outcomes.c.row_id == sa.bindparam("row_id"))
_INSERT_DETAIL = target_outcomes.insert()

_JOB_KEYS = frozenset({JOB_CANCEL, JOB_CREATED})
# A target row (under its lock) with what a start needs of its execution's job row.
_TARGET_FOR_START = targets_for_start(E.c.target_ordinal == sa.bindparam("ordinal"))
# Ends an attempt still in progress: the usual end, checked by the WHERE instead of a read.
_ENDS_FROM_IN_PROGRESS = TRANSITIONS[Lifecycle.IN_PROGRESS] - {
    Lifecycle.IN_PROGRESS,
    Lifecycle.CANCELED,
}


@functools.lru_cache(maxsize=16)
def _end_in_progress(columns: tuple[str, ...]) -> sa.Update:
    return (
        E.update()
        .where(
            E.c.job_execution_id == sa.bindparam("where_execution"),
            E.c.step_id == sa.bindparam("where_step"),
            E.c.target_ordinal == sa.bindparam("where_ordinal"),
            E.c.lifecycle == Lifecycle.IN_PROGRESS.value,
            E.c.current_attempts == sa.bindparam("where_attempt"),
        )
        .values({name: sa.bindparam(f"new_{name}", type_=E.c[name].type) for name in columns})
        .returning(*E.c)
    )


class StartOutcome(enum.Enum):
    """What ``start_target_attempt`` did with the target."""

    STARTED = "started"  # InProgress for this attempt (also when it already was)
    REDELIVERED = "redelivered"  # ended, or waits for a later attempt: nothing to run
    CANCELED = "canceled"  # the execution was asked to stop: the target is Canceled
    SKIPPED = "skipped"  # another active execution runs this job step on this database


@dataclasses.dataclass(frozen=True)
class AttemptStart:
    """The answer of ``start_target_attempt``: the target row as it is now, the execution's
    create time (a script variable) and, when skipped, the execution that holds the target."""

    outcome: StartOutcome
    target: TargetExecution
    execution_create_time: dt.datetime
    concurrent_execution_id: str | None = None


class TargetAttemptStore:
    """The start and the end of one target attempt, one transaction each."""

    _db: Database
    _clock: Callable[[], dt.datetime]

    def start_target_attempt(
        self, job_execution_id: str, step_id: int, ordinal: int, attempt: int
    ) -> AttemptStart:
        """Start attempt ``attempt`` (1-based) of a target, unless there is nothing to run:

        - the target already ended, or already waits for a later attempt: ``REDELIVERED``;
        - the execution was asked to stop: the target becomes ``Canceled`` (``CANCELED``);
        - on a first attempt of a ``Created`` target, another active execution runs the same
          job step on the same database: the target becomes ``Skipped`` (``SKIPPED``);
        - otherwise it becomes ``InProgress`` for this attempt (``STARTED``; repeating the
          start of the attempt in progress changes nothing).

        Raises ``NotFound``, and ``IllegalTransition`` when the target cannot start from
        where it is.
        """
        now = self._clock()
        parameters = {
            "job_execution_id": uuid_text(job_execution_id),
            "step_id": step_id,
            "ordinal": ordinal,
        }

        def start(connection: Connection) -> tuple[StartOutcome, Row, Row, str | None]:
            found = connection.execute(_TARGET_FOR_START, parameters).mappings().first()
            if found is None:
                raise NotFound(
                    "target execution", f"{job_execution_id} step {step_id} target {ordinal}"
                )
            job = {"cancel_requested_time": found[JOB_CANCEL], "create_time": found[JOB_CREATED]}
            row = {key: value for key, value in found.items() if key not in _JOB_KEYS}
            current = Lifecycle(row["lifecycle"])
            if current.is_terminal or (
                current == Lifecycle.WAITING_FOR_RETRY and row["current_attempts"] >= attempt
            ):
                return StartOutcome.REDELIVERED, row, job, None
            if job["cancel_requested_time"] is not None:
                cancel_rows(connection, E.c.row_id == row["row_id"], now, "canceled")
                fresh: Row = execution_row(connection, job_execution_id, step_id, ordinal)
                return StartOutcome.CANCELED, fresh, job, None
            if attempt == 1 and current == Lifecycle.CREATED:
                other = concurrent_execution(connection, row)
                if other is not None:
                    message = f"skipped: execution {other} is running this job step on this target"
                    fresh = apply_lifecycle(connection, row, Lifecycle.SKIPPED, now, message, None)
                    return StartOutcome.SKIPPED, fresh, job, other
            return StartOutcome.STARTED, begin_attempt(connection, row, attempt, now), job, None

        outcome, fresh, job, other = self._db.write_shared(
            "target execution", job_execution_id, start
        )
        target = TargetExecution.model_validate(row_document(fresh))
        return AttemptStart(outcome, target, job["create_time"], other)

    def finish_target_attempt(
        self,
        job_execution_id: str,
        step_id: int,
        ordinal: int,
        attempt: int,
        lifecycle: Lifecycle,
        *,
        message: str | None = None,
        result: ResultSet | None = None,
        messages: Sequence[str] = (),
        next_attempt_start_time: dt.datetime | None = None,
        detail: TargetDetail | None = None,
    ) -> TargetExecution:
        """End attempt ``attempt`` of a target in one transaction: keep its PRINT/info
        ``messages`` (bounded, replacing those kept for the same attempt), its first ``result``
        set (``ResultSet.bounded``, replacing an earlier one) and its ``detail``, and move the
        target to ``lifecycle`` (as ``transition``; ``Canceled`` as ``cancel_targets``, which
        leaves an ended target alone).

        ``WaitingForRetry`` needs ``next_attempt_start_time``. Repeating it changes nothing.
        Raises ``NotFound``, ``IllegalTransition``.
        """
        lifecycle = Lifecycle(lifecycle)
        if lifecycle == Lifecycle.WAITING_FOR_RETRY and next_attempt_start_time is None:
            raise ValueError("WaitingForRetry needs next_attempt_start_time")
        now = self._clock()
        quick = lifecycle in _ENDS_FROM_IN_PROGRESS
        if quick:
            values = lifecycle_values(None, lifecycle, now, message, next_attempt_start_time)
            end = _end_in_progress(tuple(sorted(values)))
            parameters = {f"new_{name}": value for name, value in values.items()}
            parameters.update(
                where_execution=uuid_text(job_execution_id),
                where_step=step_id,
                where_ordinal=ordinal,
                where_attempt=attempt,
            )

        def finish(connection: Connection) -> Row:
            if quick and connection.dialect.update_returning:
                ended = connection.execute(end, parameters).mappings().first()
                if ended is not None:
                    if lifecycle == Lifecycle.WAITING_FOR_RETRY:
                        record_retried_attempts(connection, [retried_attempt(ended, now)])
                    if messages:
                        write_messages(connection, ended["row_id"], attempt, messages, now)
                    if result is not None:
                        # A first attempt that was still in progress has no result yet: results
                        # are only written when an attempt ends, with its end.
                        write_result(connection, ended["row_id"], result, now, replace=attempt > 1)
                    write_detail(connection, ended["row_id"], detail, now, replace=attempt > 1)
                    return ended
            row = execution_row(connection, job_execution_id, step_id, ordinal, lock=True)
            if (
                lifecycle == Lifecycle.WAITING_FOR_RETRY == row["lifecycle"]
                and row["current_attempts"] == attempt
            ):  # a repeat (a redelivered activity): already recorded
                return row
            if messages:
                write_messages(connection, row["row_id"], attempt, messages, now)
            if result is not None:
                write_result(connection, row["row_id"], result, now)
            write_detail(connection, row["row_id"], detail, now)
            if lifecycle == Lifecycle.CANCELED:
                cancel_rows(connection, E.c.row_id == row["row_id"], now, message or "canceled")
                return execution_row(connection, job_execution_id, step_id, ordinal)
            fresh = apply_lifecycle(
                connection, row, lifecycle, now, message, next_attempt_start_time
            )
            if lifecycle == Lifecycle.WAITING_FOR_RETRY and row["lifecycle"] != fresh["lifecycle"]:
                record_retried_attempts(connection, [retried_attempt(fresh, now)])
            return fresh

        fresh = self._db.write_shared("target execution", job_execution_id, finish)
        return TargetExecution.model_validate(row_document(fresh))


def begin_attempt(connection: Connection, row: Row, attempt: int, now: dt.datetime) -> Row:
    """Move a target row (read under its lock) to ``InProgress`` for ``attempt``; answer it."""
    current = Lifecycle(row["lifecycle"])
    if current == Lifecycle.IN_PROGRESS and row["current_attempts"] == attempt:
        return row
    check_transition(current, Lifecycle.IN_PROGRESS, kind="target execution", name=row_name(row))
    return update_row(connection, row, attempt_start_values(attempt, now, row["start_time"] or now))


def attempt_start_values(attempt: int, now: dt.datetime, start_time: dt.datetime) -> dict[str, Any]:
    """The columns of a target row whose attempt ``attempt`` starts ``now`` (``start_time``: the
    target's first start)."""
    return {
        "lifecycle": Lifecycle.IN_PROGRESS.value,
        "is_active": True,
        "current_attempts": attempt,
        "current_attempt_start_time": now,
        "next_attempt_start_time": None,
        "start_time": start_time,
    }


def retried_attempt(row: Row, ended: dt.datetime) -> dict[str, Any]:
    """The ``target_attempts`` row of the attempt that ``row`` (now ``WaitingForRetry``) ended."""
    return {
        "row_id": row["row_id"],
        "attempt": row["current_attempts"],
        "start_time": row["current_attempt_start_time"],
        "end_time": ended,
        "message": row["last_message"],
    }


def record_retried_attempts(connection: Connection, attempts: Sequence[Row]) -> None:
    """Keep attempts that ended in a retry (``retried_attempt`` rows); a repeat replaces."""
    if not attempts:
        return
    for attempt in attempts:
        connection.execute(
            target_attempts.delete().where(
                target_attempts.c.row_id == attempt["row_id"],
                target_attempts.c.attempt == attempt["attempt"],
            )
        )
    connection.execute(target_attempts.insert(), [dict(attempt) for attempt in attempts])


def write_messages(
    connection: Connection, row_id: int, attempt: int, messages: Sequence[str], now: dt.datetime
) -> None:
    """Replace the messages kept for one attempt of a target."""
    connection.execute(_DELETE_MESSAGES, {"row_id": row_id, "attempt": attempt})
    kept = message_parameters(row_id, attempt, messages, now)
    if kept:
        connection.execute(_INSERT_MESSAGES, kept)


def message_parameters(
    row_id: int, attempt: int, messages: Sequence[str], now: dt.datetime
) -> list[dict[str, Any]]:
    """The ``target_messages`` rows of one attempt: at most ``MAX_MESSAGES_PER_ATTEMPT``, the
    last one kept then says how many were dropped."""
    kept = list(messages[:MAX_MESSAGES_PER_ATTEMPT])
    if len(messages) > MAX_MESSAGES_PER_ATTEMPT:
        kept[-1] = dropped_messages_line(len(messages) - MAX_MESSAGES_PER_ATTEMPT + 1)
    return [
        {
            "row_id": row_id,
            "attempt": attempt,
            "sequence": index,
            "message": bound_message(text),
            "recorded_time": now,
        }
        for index, text in enumerate(kept)
    ]


def write_result(
    connection: Connection,
    row_id: int,
    result: ResultSet,
    now: dt.datetime,
    *,
    replace: bool = True,
) -> None:
    """Replace the first result set kept for a target (``replace`` False: it has none)."""
    if replace:
        connection.execute(_DELETE_RESULT, {"row_id": row_id})
    connection.execute(_INSERT_RESULT, result_parameters(row_id, result, now))


def result_parameters(row_id: int, result: ResultSet, now: dt.datetime) -> dict[str, Any]:
    """The ``target_results`` row of a target's first result set."""
    return {
        "row_id": row_id,
        "columns_json": json.dumps([c.model_dump() for c in result.columns]),
        "rows_json": json.dumps(result.rows, ensure_ascii=False),
        "row_count": result.row_count,
        "truncated": result.truncated,
        "recorded_time": now,
    }


def write_detail(
    connection: Connection,
    row_id: int,
    detail: TargetDetail | None,
    now: dt.datetime,
    *,
    replace: bool = True,
) -> None:
    """Replace what ``target_outcomes`` keeps of a target (``replace`` False: it has none)."""
    if replace:
        connection.execute(_DELETE_DETAIL, {"row_id": row_id})
    if detail is not None:
        connection.execute(_INSERT_DETAIL, detail_parameters(row_id, detail, now))


def detail_parameters(row_id: int, detail: TargetDetail, now: dt.datetime) -> dict[str, Any]:
    """The ``target_outcomes`` row of a target's last attempt."""
    return {"row_id": row_id, "document": detail.model_dump_json(), "recorded_time": now}


def concurrent_execution(connection: Connection, row: Row) -> str | None:
    database = row["target_database_name"]
    other = connection.execute(
        CONCURRENT_TARGET[database is None],
        {
            "job_id": row["job_id"],
            "step_id": row["step_id"],
            "server": row["target_server_name"],
            "database": database,
            "job_execution_id": row["job_execution_id"],
        },
    ).first()
    return None if other is None else str(other.job_execution_id)
