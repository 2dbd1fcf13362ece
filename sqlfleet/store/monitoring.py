"""Compact reads of executions for watching them (part of ``SqlJobStore``): per-step progress,
one lifecycle character per target, timelines, counts of executions by lifecycle.

Every read here selects only the columns it needs, in ordinal ranges of bounded size, so a
step of 100,000 targets never becomes 100,000 row objects in the host.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from sqlfleet.errors import BadRequest
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models.executions import TargetProgress
from sqlfleet.models.monitoring import (
    LIFECYCLE_CODE,
    LIFECYCLE_LEGEND,
    MAX_CODES_PAGE,
    MAX_TIMELINE_PAGE,
    LifecycleCodes,
    Timeline,
    TimelineAttempt,
    TimelineTarget,
)
from sqlfleet.store.database import Database
from sqlfleet.store.rows import execution_row, uuid_text
from sqlfleet.store.tables import job_executions, target_attempts

E = job_executions
A = target_attempts
_CODE_NUMBER = {state.value: int(code) for state, code in LIFECYCLE_CODE.items()}


class MonitoringStore:
    """Progress, lifecycle codes and timelines of executions; counts of executions."""

    _db: Database
    _clock: Callable[[], dt.datetime]

    def target_progress(self, job_execution_id: str) -> dict[int, TargetProgress]:
        """Per step id: its targets by lifecycle, their attempts and latest change (steps
        without targets are left out). Raises ``NotFound``."""
        query = (
            sa.select(
                E.c.step_id,
                E.c.lifecycle,
                sa.func.count(),
                sa.func.sum(E.c.current_attempts),
                sa.func.max(E.c.current_attempt_start_time),
                sa.func.max(E.c.end_time),
            )
            .where(
                E.c.job_execution_id == uuid_text(job_execution_id),
                E.c.target_ordinal.is_not(None),
            )
            .group_by(E.c.step_id, E.c.lifecycle)
        )
        steps: dict[int, dict[str, Any]] = {}
        with self._db.read() as connection:
            execution_row(connection, job_execution_id)
            for step_id, lifecycle, count, attempts, started, ended in connection.execute(query):
                step = steps.setdefault(
                    step_id, {"targets": 0, "counts": {}, "attempts": 0, "times": []}
                )
                step["targets"] += count
                step["counts"][lifecycle] = count
                step["attempts"] += int(attempts or 0)
                step["times"] += [_utc(t) for t in (started, ended) if t is not None]
        return {
            step_id: TargetProgress(
                targets=step["targets"],
                counts=dict(sorted(step["counts"].items())),
                attempts=step["attempts"],
                last_change_time=max(step["times"], default=None),
            )
            for step_id, step in sorted(steps.items())
        }

    def target_lifecycles(
        self, job_execution_id: str, step_id: int, *, start: int = 0, count: int = MAX_CODES_PAGE
    ) -> LifecycleCodes:
        """One lifecycle character per target of a step, from ordinal ``start``, at most
        ``count`` (``MAX_CODES_PAGE``). Raises ``NotFound``, ``BadRequest``."""
        _check_page("count", count, MAX_CODES_PAGE)
        with self._db.read() as connection:
            step = execution_row(connection, job_execution_id, step_id)
            total = _target_total(connection, step["job_execution_id"], step_id)
            rows = connection.execute(
                sa.select(E.c.target_ordinal, E.c.lifecycle)
                .where(_ordinals(step["job_execution_id"], step_id, start, count))
                .order_by(E.c.target_ordinal)
            )
            codes = [LIFECYCLE_CODE[Lifecycle.CREATED]] * max(0, min(count, total - start))
            for ordinal, lifecycle in rows:
                codes[ordinal - start] = LIFECYCLE_CODE[Lifecycle(lifecycle)]
        return LifecycleCodes(
            step_id=step_id,
            total=total,
            start=start,
            legend=list(LIFECYCLE_LEGEND),
            codes="".join(codes),
        )

    def target_timeline(
        self,
        job_execution_id: str,
        step_id: int,
        *,
        start: int = 0,
        count: int = MAX_TIMELINE_PAGE,
    ) -> Timeline:
        """A step's targets from ordinal ``start`` (at most ``count``, ``MAX_TIMELINE_PAGE``)
        with their attempts, in milliseconds from the step's start. Raises ``NotFound``,
        ``BadRequest``."""
        _check_page("count", count, MAX_TIMELINE_PAGE)
        now = self._clock()
        with self._db.read() as connection:
            step = execution_row(connection, job_execution_id, step_id)
            execution_id = step["job_execution_id"]
            origin = _utc(step["start_time"] or step["create_time"])
            total = _target_total(connection, execution_id, step_id)
            rows = list(
                connection.execute(
                    sa.select(
                        E.c.row_id,
                        E.c.target_ordinal,
                        E.c.lifecycle,
                        E.c.start_time,
                        E.c.end_time,
                        E.c.current_attempt_start_time,
                        E.c.next_attempt_start_time,
                        E.c.current_attempts,
                    )
                    .where(_ordinals(execution_id, step_id, start, count))
                    .order_by(E.c.target_ordinal)
                )
            )
            earlier: dict[int, list[TimelineAttempt]] = {}
            retried = [row.row_id for row in rows if (row.current_attempts or 0) > 1]
            for first in range(0, len(retried), 500):
                for attempt in connection.execute(
                    sa.select(A.c.row_id, A.c.attempt, A.c.start_time, A.c.end_time)
                    .where(A.c.row_id.in_(retried[first : first + 500]))
                    .order_by(A.c.row_id, A.c.attempt)
                ):
                    earlier.setdefault(attempt.row_id, []).append(
                        TimelineAttempt(
                            attempt=attempt.attempt,
                            start=_ms(attempt.start_time, origin),
                            end=_ms(attempt.end_time, origin) or 0,
                        )
                    )
        return Timeline(
            step_id=step_id,
            total=total,
            start=start,
            origin=origin,
            now=_ms(now, origin) or 0,
            legend=list(LIFECYCLE_LEGEND),
            targets=[
                TimelineTarget(
                    ordinal=row.target_ordinal,
                    code=_CODE_NUMBER[row.lifecycle],
                    start=_ms(row.start_time, origin),
                    end=_ms(row.end_time, origin),
                    attempt_start=_ms(row.current_attempt_start_time, origin),
                    retry_at=_ms(row.next_attempt_start_time, origin),
                    attempts=row.current_attempts or 0,
                    earlier=earlier.get(row.row_id, []),
                )
                for row in rows
            ],
        )

    def count_job_executions(
        self,
        *,
        job_name: str | None = None,
        create_time_min: dt.datetime | None = None,
        create_time_max: dt.datetime | None = None,
    ) -> dict[str, int]:
        """Job executions per lifecycle (those with none are left out)."""
        query = sa.select(E.c.lifecycle, sa.func.count()).where(E.c.step_id.is_(None))
        if job_name is not None:
            query = query.where(E.c.job_name == job_name)
        if create_time_min is not None:
            query = query.where(E.c.create_time >= create_time_min)
        if create_time_max is not None:
            query = query.where(E.c.create_time <= create_time_max)
        with self._db.read() as connection:
            rows = connection.execute(query.group_by(E.c.lifecycle))
            return {lifecycle: count for lifecycle, count in sorted(rows)}

    def list_reruns(self, job_execution_id: str) -> list[str]:
        """The executions that rerun targets of this one, oldest first."""
        with self._db.read() as connection:
            return [
                str(value)
                for value in connection.execute(
                    sa.select(E.c.job_execution_id)
                    .where(
                        E.c.rerun_of_job_execution_id == uuid_text(job_execution_id),
                        E.c.step_id.is_(None),
                    )
                    .order_by(E.c.create_time)
                ).scalars()
            ]


def _check_page(name: str, count: int, limit: int) -> None:
    if not 1 <= count <= limit:
        raise BadRequest(name, f"expected a whole number from 1 to {limit}")


def _ordinals(execution_id: str, step_id: int, start: int, count: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        E.c.job_execution_id == execution_id,
        E.c.step_id == step_id,
        E.c.target_ordinal >= start,
        E.c.target_ordinal < start + count,
    )


def _target_total(connection: sa.Connection, execution_id: str, step_id: int) -> int:
    query = sa.select(sa.func.count()).where(
        E.c.job_execution_id == execution_id,
        E.c.step_id == step_id,
        E.c.target_ordinal.is_not(None),
    )
    return int(connection.execute(query).scalar_one())


def _utc(moment: Any) -> dt.datetime:
    if isinstance(moment, str):  # SQLite answers aggregates of times as text
        moment = dt.datetime.fromisoformat(moment)
    value: dt.datetime = moment
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _ms(moment: dt.datetime | None, origin: dt.datetime) -> int | None:
    if moment is None:
        return None
    return round((_utc(moment) - origin).total_seconds() * 1000)
