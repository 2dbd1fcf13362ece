"""First attempts of a chunk of targets, in turns (part of ``SqlJobStore``).

``run_targets`` runs the first attempts of a big step's targets a chunk at a time, one after the
other. When scripts take milliseconds, the two transactions ``start_target_attempt`` and
``finish_target_attempt`` make per target cost more than the script, so a chunk moves in turns
instead: one transaction records how the targets of the previous turn ended and starts the
targets of the next turn, with a statement per kind of change rather than per target.

A turn's targets become ``InProgress`` together when the turn starts; each one's row then gets
the time its script really started and ended, so the history is exact and only the live view
runs ahead by at most one turn (the caller keeps turns short). Like everything the activities
call, a turn is safe to repeat: an end is recorded only on a target still in progress with its
first attempt, and a start finds ended targets ended.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlfleet.errors import NotFound
from sqlfleet.lifecycle import TRANSITIONS, Lifecycle
from sqlfleet.models import ResultSet
from sqlfleet.models.executions import MAX_LAST_MESSAGE_CHARS, TargetDetail, bound_message
from sqlfleet.store.attempts import (
    attempt_start_values,
    concurrent_execution,
    detail_parameters,
    message_parameters,
    record_retried_attempts,
    result_parameters,
)
from sqlfleet.store.database import Database
from sqlfleet.store.rows import (
    JOB_CANCEL,
    JOB_CREATED,
    E,
    Row,
    apply_lifecycle,
    cancel_rows,
    lifecycle_values,
    other_running_targets,
    row_update,
    targets_for_start,
    uuid_text,
)
from sqlfleet.store.tables import target_messages, target_outcomes, target_results
from sqlfleet.targets import StartedTarget, stored_target

# The target rows of a turn, under their lock: only the columns a turn reads. The job's id,
# name and version are the same on every row and come from the job row, once (_JOB_ROW):
# reading all columns of every row took about a quarter of a turn's time, much of it turning
# ids into text. A turn of a SQLite job database now costs about 0.087 ms of CPU per target
# instead of 0.106 (2,000 targets in turns of 50, alternated runs).
_TURN_ROWS = (
    sa.select(
        E.c.row_id,
        E.c.target_ordinal,
        E.c.lifecycle,
        E.c.current_attempts,
        E.c.next_attempt_start_time,
        E.c.target_engine,
        E.c.target_server_name,
        E.c.target_port,
        E.c.target_database_name,
    )
    .where(
        E.c.job_execution_id == sa.bindparam("job_execution_id"),
        E.c.step_id == sa.bindparam("step_id"),
        E.c.target_ordinal.in_(sa.bindparam("ordinals", expanding=True)),
    )
    .with_for_update(of=E)
)
# What a turn that starts targets needs of the job row.
_JOB_ROW = sa.select(
    E.c.job_id,
    E.c.job_name,
    E.c.job_version,
    E.c.cancel_requested_time.label(JOB_CANCEL),
    E.c.create_time.label(JOB_CREATED),
).where(
    E.c.job_execution_id == sa.bindparam("job_execution_id"),
    E.c.step_id.is_(None),
    E.c.target_ordinal.is_(None),
)
# Whole target rows, for the few a turn moves by the general rules (a Skipped target).
_WHOLE_ROWS = targets_for_start(E.c.row_id.in_(sa.bindparam("row_ids", expanding=True)))
# Databases of the turn that another active execution of the job runs this step on. Naming
# the servers too lets the (job, step, server, database, is_active) index find them; with the
# databases alone a turn read every active row of the job (its own execution's too), which
# made a step of N targets cost N^2.
_BUSY_DATABASES = sa.select(
    E.c.target_server_name, E.c.target_database_name, E.c.job_execution_id
).where(
    *other_running_targets(),
    E.c.target_server_name.in_(sa.bindparam("servers", expanding=True)),
    E.c.target_database_name.in_(sa.bindparam("databases", expanding=True)),
)
_INSERT_RESULT = target_results.insert()
_INSERT_MESSAGES = target_messages.insert()
# Ends that a first attempt in progress may have (Canceled goes through cancel_rows).
_USUAL_ENDS = TRANSITIONS[Lifecycle.IN_PROGRESS] - {Lifecycle.IN_PROGRESS, Lifecycle.CANCELED}


@dataclasses.dataclass(frozen=True)
class AttemptEnd:
    """How the first attempt of one target ended: what ``finish_target_attempt`` takes, plus
    when its script started and ended."""

    ordinal: int
    lifecycle: Lifecycle
    started: dt.datetime
    ended: dt.datetime
    message: str | None = None
    result: ResultSet | None = None
    messages: Sequence[str] = ()
    next_attempt_start_time: dt.datetime | None = None
    detail: TargetDetail | None = None


@dataclasses.dataclass(frozen=True)
class ChunkTurn:
    """The answer of ``turn_target_chunk``."""

    started: list[StartedTarget]  # to run now, in the order asked
    recorded: list[int]  # ordinals whose end was written (the others had ended meanwhile)
    canceled: bool  # the execution was asked to stop: nothing started, those asked are Canceled
    execution_create_time: dt.datetime | None
    # Targets asked to start that already wait for their second attempt (a redelivered turn):
    # ordinal -> when; their retry lanes may not exist yet.
    waiting: dict[int, dt.datetime] = dataclasses.field(default_factory=dict)


class TargetChunkStore:
    """Turns of a chunk of first attempts, one transaction each."""

    _db: Database
    _clock: Callable[[], dt.datetime]

    def turn_target_chunk(
        self,
        job_execution_id: str,
        step_id: int,
        ended: Sequence[AttemptEnd],
        start: Sequence[int],
    ) -> ChunkTurn:
        """Record the ``ended`` first attempts (as ``finish_target_attempt`` would, each at its
        own end time; a target that is no longer in progress with its first attempt keeps its
        row), then start the first attempts of the ``start`` ordinals (as
        ``start_target_attempt`` would: ``Created`` targets become ``InProgress``, a target
        already in progress with its first attempt is started again, ended ones are left
        alone, and those waiting for their second attempt are named in ``waiting``; when the
        execution was asked to stop they become ``Canceled`` instead, and a database that
        another active execution runs this step on is ``Skipped``).

        One transaction. Raises ``NotFound`` when an ordinal has no target row."""
        now = self._clock()
        ordinals = sorted({end.ordinal for end in ended} | set(start))
        parameters = {
            "job_execution_id": uuid_text(job_execution_id),
            "step_id": step_id,
            "ordinals": ordinals,
        }

        def turn(connection: Connection) -> ChunkTurn:
            found = connection.execute(_TURN_ROWS, parameters).mappings().all()
            rows: dict[int, Row] = {row["target_ordinal"]: row for row in found}
            missing = set(ordinals) - set(rows)
            if missing:
                raise NotFound(
                    "target execution", f"{job_execution_id} step {step_id} target {min(missing)}"
                )
            recorded = _record_ends(connection, rows, ended)
            if not start:
                return ChunkTurn([], recorded, False, None)
            job = connection.execute(_JOB_ROW, parameters).mappings().one()
            if job[JOB_CANCEL] is not None:
                ids = [rows[ordinal]["row_id"] for ordinal in start]
                cancel_rows(connection, E.c.row_id.in_(ids), now, "canceled")
                return ChunkTurn([], recorded, True, job[JOB_CREATED])
            asked = [rows[ordinal] for ordinal in start]
            waiting = {
                row["target_ordinal"]: row["next_attempt_start_time"]
                for row in asked
                if row["lifecycle"] == Lifecycle.WAITING_FOR_RETRY.value
                and row["current_attempts"] == 1
            }
            of_step = {
                **job,
                "step_id": step_id,
                "job_execution_id": parameters["job_execution_id"],
            }
            started = _start(connection, asked, of_step, now)
            return ChunkTurn(started, recorded, False, job[JOB_CREATED], waiting)

        return self._db.write_shared("target execution", job_execution_id, turn)


def _in_first_attempt(row: Row) -> bool:
    return bool(row["lifecycle"] == Lifecycle.IN_PROGRESS.value and row["current_attempts"] == 1)


def _record_ends(
    connection: Connection, rows: dict[int, Row], ended: Sequence[AttemptEnd]
) -> list[int]:
    """Write the ends of targets still in their first attempt; answer their ordinals."""
    live = [end for end in ended if _in_first_attempt(rows[end.ordinal])]
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for end in live:
        row_id = rows[end.ordinal]["row_id"]
        if end.lifecycle == Lifecycle.CANCELED:
            cancel_rows(connection, E.c.row_id == row_id, end.ended, end.message or "canceled")
            continue
        if end.lifecycle not in _USUAL_ENDS:
            raise ValueError(f"a first attempt does not end {end.lifecycle.value}")
        if end.lifecycle == Lifecycle.WAITING_FOR_RETRY and end.next_attempt_start_time is None:
            raise ValueError("WaitingForRetry needs next_attempt_start_time")
        values = lifecycle_values(
            None, end.lifecycle, end.ended, end.message, end.next_attempt_start_time
        )
        values["start_time"] = values["current_attempt_start_time"] = end.started
        updates[tuple(sorted(values))].append(
            {"where_row_id": row_id, **{f"new_{name}": value for name, value in values.items()}}
        )
    for columns, parameters in updates.items():
        connection.execute(row_update(columns), parameters)
    record_retried_attempts(
        connection,
        [
            {
                "row_id": rows[end.ordinal]["row_id"],
                "attempt": 1,
                "start_time": end.started,
                "end_time": end.ended,
                "message": bound_message(end.message, MAX_LAST_MESSAGE_CHARS)
                if end.message is not None
                else None,
            }
            for end in live
            if end.lifecycle == Lifecycle.WAITING_FOR_RETRY
        ],
    )
    # A first attempt still in progress has neither result nor messages yet: only ends write
    # them, and an end moves the target out of its first attempt.
    results = [
        result_parameters(rows[end.ordinal]["row_id"], end.result, end.ended)
        for end in live
        if end.result is not None
    ]
    if results:
        connection.execute(_INSERT_RESULT, results)
    messages = [
        parameters
        for end in live
        for parameters in message_parameters(
            rows[end.ordinal]["row_id"], 1, end.messages, end.ended
        )
    ]
    if messages:
        connection.execute(_INSERT_MESSAGES, messages)
    details = [
        detail_parameters(rows[end.ordinal]["row_id"], end.detail, end.ended)
        for end in live
        if end.detail is not None
    ]
    if details:
        connection.execute(target_outcomes.insert(), details)
    return [end.ordinal for end in live]


def _start(
    connection: Connection, rows: Sequence[Row], of_step: Row, now: dt.datetime
) -> list[StartedTarget]:
    """Start the first attempts of ``rows`` (``_TURN_ROWS``, read under their lock; the
    execution is not stopping); ``of_step``: the job row's ``_JOB_ROW`` columns, with the
    execution and step ids. Answer the targets to run."""
    fresh = [row for row in rows if row["lifecycle"] == Lifecycle.CREATED.value]
    busy = _busy(connection, fresh, of_step)
    if busy:
        ids = {name: of_step[name] for name in ("job_execution_id", "step_id")}
        whole = connection.execute(_WHOLE_ROWS, {**ids, "row_ids": sorted(busy)}).mappings().all()
        for row in whole:
            message = (
                f"skipped: execution {busy[row['row_id']]} is running this job step on this target"
            )
            apply_lifecycle(connection, row, Lifecycle.SKIPPED, now, message, None)
    begin = [row for row in fresh if row["row_id"] not in busy]
    if begin:
        values = {f"new_{k}": v for k, v in attempt_start_values(1, now, now).items()}
        connection.execute(
            row_update(tuple(sorted(attempt_start_values(1, now, now)))),
            [{"where_row_id": row["row_id"], **values} for row in begin],
        )
    starting = {row["row_id"] for row in begin}
    return [
        StartedTarget(
            ordinal=row["target_ordinal"],
            target=stored_target(
                row["target_engine"],
                row["target_server_name"],
                row["target_port"],
                row["target_database_name"],
            ),
            job_name=of_step["job_name"],
            job_id=of_step["job_id"],
            job_version=of_step["job_version"],
        )
        for row in rows
        if row["row_id"] in starting or _in_first_attempt(row)
    ]


def _busy(connection: Connection, rows: Sequence[Row], of_step: Row) -> dict[int, str]:
    """Row id -> the other active execution that runs the job step on the row's database."""
    found: dict[int, str] = {}
    named = [row for row in rows if row["target_database_name"] is not None]
    for row in rows:
        if row["target_database_name"] is None:  # a server-level target: asked alone
            other = concurrent_execution(connection, {**of_step, **row})
            if other is not None:
                found[row["row_id"]] = other
    if named:
        holders = {
            (server, database): str(execution)
            for server, database, execution in connection.execute(
                _BUSY_DATABASES,
                {
                    "job_id": of_step["job_id"],
                    "step_id": of_step["step_id"],
                    "servers": sorted({row["target_server_name"] for row in named}),
                    "databases": sorted({row["target_database_name"] for row in named}),
                    "job_execution_id": of_step["job_execution_id"],
                },
            )
        }
        for row in named:
            other = holders.get((row["target_server_name"], row["target_database_name"]))
            if other is not None:
                found[row["row_id"]] = other
    return found
