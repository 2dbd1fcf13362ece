"""Reading execution history (part of ``SqlJobStore``): one execution, pages of them, outputs,
and purging old history."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sqlfleet.errors import BadRequest, Conflict, NotFound
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import (
    ExecutionPage,
    JobExecution,
    JobVersion,
    StepExecution,
    TargetExecution,
    TargetOutput,
)
from sqlfleet.models.executions import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from sqlfleet.store.database import Database
from sqlfleet.store.pages import target_outputs
from sqlfleet.store.rows import (
    EXECUTION_ROWS,
    JOB_AND_STEP_ROWS,
    execution_row,
    row_document,
    uuid_text,
)
from sqlfleet.store.runs import forget_runs
from sqlfleet.store.tables import (
    job_executions,
    jobs,
    notification_deliveries,
    rerun_targets,
    target_attempts,
    target_messages,
    target_outcomes,
    target_results,
)
from sqlfleet.store.versions import prune_jobs_versions, read_version

__all__ = ["HistoryStore", "execution_row", "read_execution", "row_document"]

E = job_executions


_JOB_BY_ID = sa.select(jobs).where(jobs.c.job_id == sa.bindparam("job_id"))


@functools.lru_cache(maxsize=16)
def _target_rows(by_step: bool, by_lifecycle: bool, active: bool | None) -> sa.Select[Any]:
    """``list_target_executions``' query (built once per form: each step's expansion asks)."""
    query = sa.select(E).where(
        E.c.job_execution_id == sa.bindparam("job_execution_id"), E.c.target_ordinal.is_not(None)
    )
    if by_step:
        query = query.where(E.c.step_id == sa.bindparam("step_id"))
    if by_lifecycle:
        query = query.where(E.c.lifecycle == sa.bindparam("lifecycle"))
    if active is not None:
        query = query.where(E.c.is_active.is_(active))
    return query.order_by(E.c.step_id, E.c.target_ordinal)


class HistoryStore:
    """Reads of executions; the write side is ``ExecutionStore``."""

    _db: Database
    _clock: Callable[[], dt.datetime]
    _versions_kept: int

    def get_job_execution(
        self,
        job_execution_id: str,
        *,
        lifecycle: Lifecycle | None = None,
        include_targets: bool = True,
    ) -> JobExecution:
        """The execution with its steps and (optionally) targets. ``lifecycle`` keeps the
        targets in that state and the steps that are in it or have such targets.
        Raises ``NotFound``."""
        with self._db.read() as connection:
            return read_execution(connection, job_execution_id, lifecycle, include_targets)

    def execution_is_active(self, job_execution_id: str) -> bool:
        """Whether the execution is still active (one row's read). Raises ``NotFound``."""
        with self._db.read() as connection:
            return bool(execution_row(connection, job_execution_id)["is_active"])

    def get_target_execution(
        self, job_execution_id: str, step_id: int, ordinal: int
    ) -> TargetExecution:
        """Target ``ordinal`` (0-based) of a step of an execution. Raises ``NotFound``."""
        with self._db.read() as connection:
            return TargetExecution.model_validate(
                row_document(execution_row(connection, job_execution_id, step_id, ordinal))
            )

    def list_target_executions(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        lifecycle: Lifecycle | None = None,
        active: bool | None = None,
    ) -> list[TargetExecution]:
        """Target rows of an execution in (step, ordinal) order, optionally filtered."""
        query = _target_rows(step_id is not None, lifecycle is not None, active)
        parameters = {
            "job_execution_id": job_execution_id,
            "step_id": step_id,
            "lifecycle": None if lifecycle is None else lifecycle.value,
        }
        with self._db.read() as connection:
            execution_row(connection, job_execution_id)
            rows = connection.execute(query, parameters).mappings()
            return [TargetExecution.model_validate(row_document(row)) for row in rows]

    def list_job_executions(
        self,
        *,
        job_name: str | None = None,
        active: bool | None = None,
        lifecycle: Lifecycle | None = None,
        create_time_min: dt.datetime | None = None,
        create_time_max: dt.datetime | None = None,
        end_time_min: dt.datetime | None = None,
        end_time_max: dt.datetime | None = None,
        top: int = DEFAULT_PAGE_SIZE,
        continuation: str | None = None,
    ) -> ExecutionPage:
        """Job executions newest first (as Get-AzSqlElasticJobExecution), ``top`` per page.

        Pass the returned ``continuation`` to get the next page. Raises ``BadRequest`` for a
        bad ``top`` or continuation token.
        """
        if not 1 <= top <= MAX_PAGE_SIZE:
            raise BadRequest("top", f"expected a number from 1 to {MAX_PAGE_SIZE}")
        query = sa.select(E).where(E.c.step_id.is_(None))
        filters: list[tuple[Any, Callable[[Any], Any]]] = [
            (job_name, lambda v: E.c.job_name == v),
            (active, lambda v: E.c.is_active.is_(v)),
            (lifecycle, lambda v: E.c.lifecycle == v.value),
            (create_time_min, lambda v: E.c.create_time >= v),
            (create_time_max, lambda v: E.c.create_time <= v),
            (end_time_min, lambda v: E.c.end_time >= v),
            (end_time_max, lambda v: E.c.end_time <= v),
        ]
        for value, condition in filters:
            if value is not None:
                query = query.where(condition(value))
        if continuation:
            after_time, after_id = _decode_token(continuation)
            query = query.where(
                sa.or_(
                    E.c.create_time < after_time,
                    sa.and_(E.c.create_time == after_time, E.c.job_execution_id < after_id),
                )
            )
        query = query.order_by(E.c.create_time.desc(), E.c.job_execution_id.desc()).limit(top + 1)
        with self._db.read() as connection:
            rows = list(connection.execute(query).mappings())
        items = [JobExecution.model_validate(row_document(row)) for row in rows[:top]]
        token = _encode_token(items[-1]) if len(rows) > top else None
        return ExecutionPage(items=items, continuation=token)

    def get_target_output(self, job_execution_id: str, step_id: int, ordinal: int) -> TargetOutput:
        """A target's messages (all attempts) and first result set. Raises ``NotFound``."""
        with self._db.read() as connection:
            row = execution_row(connection, job_execution_id, step_id, ordinal)
            return target_outputs(connection, [row])[0]

    def get_execution_version(self, job_execution_id: str) -> JobVersion:
        """The job version (with steps) an execution runs. Raises ``NotFound``."""
        with self._db.read() as connection:
            row = execution_row(connection, job_execution_id)
            job = connection.execute(_JOB_BY_ID, {"job_id": row["job_id"]}).mappings().first()
            if job is None:
                raise NotFound("job", row["job_name"])
            return read_version(connection, job, row["job_version"])

    def purge_history(self, oldest: dt.datetime, *, job_name: str | None = None) -> list[str]:
        """Delete finished executions that ended before ``oldest`` (``sp_purge_jobhistory``),
        with their targets, messages and results. Returns the purged execution ids."""
        query = sa.select(E.c.job_execution_id).where(
            E.c.step_id.is_(None), E.c.is_active.is_(False), E.c.end_time < oldest
        )
        if job_name is not None:
            query = query.where(E.c.job_name == job_name)
        with self._db.write("job history", job_name or "") as connection:
            ids = list(connection.execute(query).scalars())
            job_ids: set[str] = set()
            for chunk in _chunks(ids, 500):
                job_ids.update(_delete_executions(connection, chunk))
            # The versions only those executions ran can go now.
            prune_jobs_versions(connection, sorted(job_ids), self._versions_kept)
        return ids

    def purge_execution(self, job_execution_id: str) -> None:
        """Delete one finished execution with its steps, targets, messages and results.

        Raises ``NotFound``, or ``Conflict`` while it is active (cancel it first).
        """
        with self._db.write("job execution", job_execution_id) as connection:
            row = execution_row(connection, job_execution_id, lock=True)
            if row["is_active"]:
                raise Conflict(
                    "job execution", row["job_execution_id"], "is still active; cancel it first"
                )
            job_ids = _delete_executions(connection, [row["job_execution_id"]])
            prune_jobs_versions(connection, job_ids, self._versions_kept)


def _delete_executions(connection: Connection, ids: Sequence[str]) -> list[str]:
    """Delete the executions ``ids`` with everything of theirs; answers their jobs' ids."""
    job_ids = list(
        connection.execute(
            sa.select(E.c.job_id)
            .distinct()
            .where(E.c.job_execution_id.in_(ids), E.c.step_id.is_(None))
        ).scalars()
    )
    rows = sa.select(E.c.row_id).where(E.c.job_execution_id.in_(ids))
    connection.execute(target_attempts.delete().where(target_attempts.c.row_id.in_(rows)))
    connection.execute(rerun_targets.delete().where(rerun_targets.c.job_execution_id.in_(ids)))
    connection.execute(target_messages.delete().where(target_messages.c.row_id.in_(rows)))
    connection.execute(target_results.delete().where(target_results.c.row_id.in_(rows)))
    connection.execute(target_outcomes.delete().where(target_outcomes.c.row_id.in_(rows)))
    connection.execute(
        notification_deliveries.delete().where(notification_deliveries.c.job_execution_id.in_(ids))
    )
    connection.execute(E.delete().where(E.c.job_execution_id.in_(ids)))
    forget_runs(connection, ids, {str(job_id) for job_id in job_ids})
    return [str(job_id) for job_id in job_ids]


def read_execution(
    connection: Connection,
    job_execution_id: str,
    lifecycle: Lifecycle | None = None,
    include_targets: bool = True,
) -> JobExecution:
    # One statement, target rows filtered in SQL: activities read the execution once per
    # target, and reading every target row each time would make a step quadratic.
    if not include_targets:
        query = JOB_AND_STEP_ROWS
    elif lifecycle is None:
        query = EXECUTION_ROWS
    else:
        query = EXECUTION_ROWS.where(
            sa.or_(E.c.target_ordinal.is_(None), E.c.lifecycle == lifecycle.value)
        )
    rows = connection.execute(query, {"job_execution_id": uuid_text(job_execution_id)})
    job: RowMapping | None = None
    steps: dict[int, dict[str, Any]] = {}
    targets: dict[int, list[TargetExecution]] = {}
    for row in rows.mappings():
        if row["step_id"] is None:
            job = row
        elif row["target_ordinal"] is None:
            steps[row["step_id"]] = row_document(row)
        elif include_targets and (lifecycle is None or row["lifecycle"] == lifecycle.value):
            targets.setdefault(row["step_id"], []).append(
                TargetExecution.model_validate(row_document(row))
            )
    if job is None:
        raise NotFound("job execution", job_execution_id)
    kept = [
        StepExecution.model_validate({**step, "targets": targets.get(step_id, [])})
        for step_id, step in steps.items()
        if lifecycle is None or step["lifecycle"] == lifecycle.value or targets.get(step_id)
    ]
    return JobExecution.model_validate({**row_document(job), "steps": kept})


def _encode_token(last: JobExecution) -> str:
    raw = json.dumps({"t": last.create_time.isoformat(), "id": last.job_execution_id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[dt.datetime, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return dt.datetime.fromisoformat(data["t"]), uuid_text(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error, NotFound):
        raise BadRequest(
            "continuation", "is not a continuation token from a previous page"
        ) from None


def _chunks(values: Sequence[str], size: int) -> list[Sequence[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
