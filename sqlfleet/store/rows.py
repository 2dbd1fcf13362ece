"""One row of ``job_executions`` (a job, step or target execution): read it, move it.

Every target attempt reads and changes its row several times, so the statements here are
built once, with bound parameters: on SQLite, building a SQLAlchemy statement costs more
than running it.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sqlfleet import changes
from sqlfleet.errors import NotFound
from sqlfleet.lifecycle import ACTIVE, TRANSITIONS, Lifecycle, check_transition
from sqlfleet.models.executions import MAX_LAST_MESSAGE_CHARS, bound_message
from sqlfleet.parametervalues import shown_parameters
from sqlfleet.store.tables import job_executions

E = job_executions
# A row as read (RowMapping) or as it is after an update (a dict).
Row = Mapping[Any, Any]


def _row_query(step: bool, target: bool, lock: bool) -> sa.Select[Any]:
    query = sa.select(E).where(E.c.job_execution_id == sa.bindparam("job_execution_id"))
    query = query.where(E.c.step_id == sa.bindparam("step_id") if step else E.c.step_id.is_(None))
    query = query.where(
        E.c.target_ordinal == sa.bindparam("ordinal") if target else E.c.target_ordinal.is_(None)
    )
    return query.with_for_update() if lock else query


_ROW_QUERIES = {
    (step, target, lock): _row_query(step, target, lock)
    for step in (False, True)
    for target in (False, True)
    for lock in (False, True)
}
# Every row of an execution, and its job and step rows only, for ``history.read_execution``.
EXECUTION_ROWS = (
    sa.select(E)
    .where(E.c.job_execution_id == sa.bindparam("job_execution_id"))
    .order_by(E.c.step_id, E.c.target_ordinal)
)
JOB_AND_STEP_ROWS = EXECUTION_ROWS.where(E.c.target_ordinal.is_(None))


def execution_row(
    connection: Connection,
    job_execution_id: str,
    step_id: int | None = None,
    ordinal: int | None = None,
    *,
    lock: bool = False,
) -> RowMapping:
    """The job row (no step), a step row (no ordinal) or a target row. Raises ``NotFound``."""
    query = _ROW_QUERIES[(step_id is not None, ordinal is not None, lock)]
    parameters = {
        "job_execution_id": uuid_text(job_execution_id),
        "step_id": step_id,
        "ordinal": ordinal,
    }
    row = connection.execute(query, parameters).mappings().first()
    if row is None:
        what = (
            "job execution"
            if step_id is None
            else "step execution"
            if ordinal is None
            else "target execution"
        )
        where = job_execution_id + (f" step {step_id}" if step_id is not None else "")
        where += f" target {ordinal}" if ordinal is not None else ""
        raise NotFound(what, where)
    return row


@functools.lru_cache(maxsize=64)
def row_update(columns: tuple[str, ...]) -> sa.Update:
    """``UPDATE`` of ``columns`` (bound as ``new_<name>``) of the row ``where_row_id``."""
    # Bound names differ from the column names: SQLAlchemy reserves those for itself in SET.
    return (
        E.update()
        .where(E.c.row_id == sa.bindparam("where_row_id"))
        .values({name: sa.bindparam(f"new_{name}", type_=E.c[name].type) for name in columns})
    )


def update_row(connection: Connection, row: Row, values: Row) -> dict[str, Any]:
    """Set ``values`` on ``row`` (read in this transaction, under its lock); answer the row
    as it is now."""
    parameters = {f"new_{name}": value for name, value in values.items()}
    if values.get("is_active") is False and row_level(row) == "job":
        changes.mark_ended(connection)  # wakes the waits for its end (until=ended)
    connection.execute(
        row_update(tuple(sorted(values))), {"where_row_id": row["row_id"], **parameters}
    )
    return {**row, **values}


def row_document(row: Row) -> dict[str, Any]:
    """A row as the execution models take it."""
    document = dict(row)
    document["cancel_requested"] = document.pop("cancel_requested_time", None) is not None
    document.pop("row_id", None)
    document["parameters"] = shown_parameters(document.pop("parameters_json", None))
    return document


def uuid_text(value: str) -> str:
    """The canonical form of an execution id; an id that is no UUID is not found."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound("job execution", value) from None


JOB_CANCEL, JOB_CREATED = "job_cancel_requested_time", "job_create_time"


def of_job_row(column: str, label: str) -> sa.Label[Any]:
    """``column`` of the job row of the execution of the row a query selects, as ``label``."""
    job = E.alias(f"job_row_{column}")
    return (
        sa.select(job.c[column])
        .where(
            job.c.job_execution_id == E.c.job_execution_id,
            job.c.step_id.is_(None),
            job.c.target_ordinal.is_(None),
        )
        .scalar_subquery()
        .label(label)
    )


def targets_for_start(ordinals: Any) -> sa.Select[Any]:
    """Target rows of one step (``job_execution_id``, ``step_id``; ``ordinals`` selects
    which), under their lock, with the cancel flag and create time of their job row
    (``JOB_CANCEL``, ``JOB_CREATED``): what starting an attempt needs."""
    return (
        sa.select(
            E,
            of_job_row("cancel_requested_time", JOB_CANCEL),
            of_job_row("create_time", JOB_CREATED),
        )
        .where(
            E.c.job_execution_id == sa.bindparam("job_execution_id"),
            E.c.step_id == sa.bindparam("step_id"),
            ordinals,
        )
        .with_for_update(of=E)
    )


# The target rows of one step of one execution, bound as ``execution`` and ``step`` (an
# UPDATE reserves the column names for its SET clause).
STEP_TARGETS = sa.and_(
    E.c.job_execution_id == sa.bindparam("execution"),
    E.c.step_id == sa.bindparam("step"),
    E.c.target_ordinal.is_not(None),
)


# Bulk ends update many rows in one statement; the states they may leave come from the table.
CANCELABLE = frozenset(state for state in ACTIVE if Lifecycle.CANCELED in TRANSITIONS[state])
FAILABLE = frozenset(state for state in ACTIVE if Lifecycle.FAILED in TRANSITIONS[state])


def other_running_targets() -> tuple[Any, ...]:
    """Conditions on target rows of the job step (``job_id``, ``step_id``) that another
    execution (not ``job_execution_id``) is running: a first attempt of the same database
    there means this one is ``Skipped``."""
    return (
        E.c.job_id == sa.bindparam("job_id"),
        E.c.step_id == sa.bindparam("step_id"),
        E.c.is_active.is_(True),
        E.c.lifecycle.in_([Lifecycle.IN_PROGRESS.value, Lifecycle.WAITING_FOR_RETRY.value]),
        E.c.job_execution_id != sa.bindparam("job_execution_id"),
        E.c.target_ordinal.is_not(None),
    )


def _concurrent_target(database_is_null: bool) -> sa.Select[Any]:
    same_database = (
        E.c.target_database_name.is_(None)
        if database_is_null
        else E.c.target_database_name == sa.bindparam("database")
    )
    return (
        sa.select(E.c.job_execution_id)
        .where(
            *other_running_targets(),
            E.c.target_server_name == sa.bindparam("server"),
            same_database,
        )
        .limit(1)
    )


# Every first attempt asks, so the two forms (database named or not) are built once.
CONCURRENT_TARGET = {null: _concurrent_target(null) for null in (False, True)}


def apply_lifecycle(
    connection: Connection,
    row: Row,
    lifecycle: Lifecycle,
    now: dt.datetime,
    message: str | None,
    next_attempt: dt.datetime | None,
) -> Row:
    """Move ``row`` (read under its lock) to ``lifecycle``; answer the row as it is now."""
    current = Lifecycle(row["lifecycle"])
    if not check_transition(
        current, lifecycle, kind=f"{row_level(row)} execution", name=row_name(row)
    ):
        return row
    return update_row(connection, row, lifecycle_values(row, lifecycle, now, message, next_attempt))


_RUNNING = (Lifecycle.IN_PROGRESS, Lifecycle.WAITING_FOR_CHILD_JOB_EXECUTIONS)


def lifecycle_values(
    row: Row | None,
    lifecycle: Lifecycle,
    now: dt.datetime,
    message: str | None,
    next_attempt: dt.datetime | None,
) -> dict[str, Any]:
    """The columns a move of ``row`` to ``lifecycle`` sets (``row`` None: a target row that
    is ``InProgress``)."""
    values: dict[str, Any] = {
        "lifecycle": lifecycle.value,
        "is_active": not lifecycle.is_terminal,
        "next_attempt_start_time": next_attempt
        if lifecycle == Lifecycle.WAITING_FOR_RETRY
        else None,
    }
    if lifecycle in _RUNNING and row is not None:
        values["start_time"] = row["start_time"] or now
        if row_level(row) == "step" and row["current_attempts"] == 0:
            values["current_attempts"] = 1
    if lifecycle.is_terminal:
        values["end_time"] = now
    if message is not None:
        values["last_message"] = bound_message(message, MAX_LAST_MESSAGE_CHARS)
    return values


def cancel_rows(connection: Connection, where: Any, now: dt.datetime, message: str) -> int:
    """Cancel the rows ``where`` selects that may still be cancelled; how many changed."""
    return end_rows(connection, where, Lifecycle.CANCELED, now, message)


def end_rows(
    connection: Connection,
    where: Any,
    lifecycle: Lifecycle,
    now: dt.datetime,
    message: str,
    parameters: Mapping[str, Any] | None = None,
) -> int:
    """Move the rows ``where`` selects (with its bound ``parameters``) that may still end so
    to ``lifecycle`` (``Canceled`` or ``Failed``); how many changed."""
    allowed = {Lifecycle.CANCELED: CANCELABLE, Lifecycle.FAILED: FAILABLE}[lifecycle]
    result = connection.execute(
        E.update()
        .where(where, E.c.lifecycle.in_([state.value for state in allowed]))
        .values(
            lifecycle=lifecycle.value,
            is_active=False,
            end_time=now,
            next_attempt_start_time=None,
            last_message=bound_message(message, MAX_LAST_MESSAGE_CHARS),
        ),
        dict(parameters or {}),
    )
    if result.rowcount:
        changes.mark_ended(connection)
    return int(result.rowcount or 0)


def row_level(row: Row) -> str:
    """``job``, ``step`` or ``target``."""
    if row["step_id"] is None:
        return "job"
    return "step" if row["target_ordinal"] is None else "target"


def row_name(row: Row) -> str:
    """How messages name the row: ``<execution id>[ step <id>[ target <ordinal>]]``."""
    text = str(row["job_execution_id"])
    if row["step_id"] is not None:
        text += f" step {row['step_id']}"
    if row["target_ordinal"] is not None:
        text += f" target {row['target_ordinal']}"
    return text
