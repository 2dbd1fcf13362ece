"""Ending a step and an execution with the rollup of their children (part of ``SqlJobStore``).

``finish_step`` is everything the ``finish_step`` activity asks of the job database, in one
transaction: end what a failure or a cancel left running of the step's targets, roll the step
up, decide whether the job stops there and, when it does or the step is the last, end the
execution too. It reads the job row, the step rows and the step's targets counted by lifecycle
(one statement each, whatever the number of targets) and writes at most four statements more,
where the activity used to make four to seven calls (and two per target after a failure).
Every change goes through ``sqlfleet.lifecycle``'s transition table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlfleet.errors import Conflict, NotFound, TargetsStillActive
from sqlfleet.lifecycle import ACTIVE, Lifecycle, rollup
from sqlfleet.models import JobExecution, StepExecution
from sqlfleet.models.jobs import OnFailure
from sqlfleet.store.database import Database
from sqlfleet.store.rows import (
    STEP_TARGETS,
    E,
    Row,
    apply_lifecycle,
    end_rows,
    execution_row,
    lifecycle_values,
    row_document,
    row_name,
)
from sqlfleet.store.tables import job_steps

# A step that ends so stops its job, unless its ``on_failure`` is ``continue``.
STOPPING = frozenset({Lifecycle.FAILED, Lifecycle.TIMED_OUT, Lifecycle.CANCELED})
NOT_RUN = "not run: an earlier step ended the job"

_STEP_ROWS = (
    sa.select(E)
    .where(
        E.c.job_execution_id == sa.bindparam("job_execution_id"),
        E.c.step_id.is_not(None),
        E.c.target_ordinal.is_(None),
    )
    .order_by(E.c.step_id)
)
_LOCKED_STEP_ROWS = _STEP_ROWS.with_for_update()
_ON_FAILURE = sa.select(job_steps.c.on_failure).where(
    job_steps.c.job_id == sa.bindparam("job_id"),
    job_steps.c.job_version == sa.bindparam("job_version"),
    job_steps.c.step_id == sa.bindparam("step_id"),
)


@dataclasses.dataclass(frozen=True)
class FinishedStep:
    """The answer of ``finish_step``: the step as it is now (without target rows), its targets
    counted by lifecycle, whether the job stops after it, whether this call ended it (a
    repeat finds it ended), and, when it stops the job or is the last, the execution as it is
    now (without target rows) and whether this call ended that."""

    step: StepExecution
    targets: Mapping[str, int]
    stop: bool
    step_ended: bool
    execution: JobExecution | None = None
    execution_ended: bool = False


class EndingStore:
    """The ends of steps and executions that their orchestration reaches."""

    _db: Database
    _clock: Callable[[], dt.datetime]

    def finish_step(
        self,
        job_execution_id: str,
        step_id: int,
        *,
        error: str | None = None,
        last: bool = False,
        execution_message: str | None = None,
        on_failure: OnFailure | None = None,
    ) -> FinishedStep:
        """End a step, and the execution with it when the step stops the job or is ``last``,
        in one transaction:

        - when the execution was asked to stop, the step's targets still active become
          ``Canceled``; otherwise, with an ``error`` (a child of the step failed), ``Failed``
          with ``error`` as their message;
        - the step ends with the rollup of its targets (``sqlfleet.lifecycle.rollup``) and
          ``error`` (default: a count per state) as its message; a step of a cancelled
          execution that has no targets ends ``Canceled``. A step that ended already stays;
        - the job stops after it when the execution was asked to stop, or when it ended
          ``Failed``, ``TimedOut`` or ``Canceled`` and its ``on_failure`` (None: the one its
          job version says) is not ``continue``;
        - then, or when the step is ``last``, the execution ends as ``finish_job_execution``
          ends it, with ``execution_message``, unless it ended already.

        Raises ``NotFound``; ``TargetsStillActive`` (nothing changed) while targets of the
        step are active without an ``error`` or a cancel to end them (retry lanes hold them);
        ``Conflict`` when the execution should end while another step is still active.
        """
        now = self._clock()
        with self._db.write("step execution", f"{job_execution_id} step {step_id}") as connection:
            job: Row = execution_row(connection, job_execution_id, lock=True)
            execution_id = job["job_execution_id"]
            steps = step_rows(connection, execution_id, lock=True)
            index = next((i for i, row in enumerate(steps) if row["step_id"] == step_id), None)
            if index is None:
                raise NotFound("step execution", f"{job_execution_id} step {step_id}")
            step = steps[index]
            canceled = job["cancel_requested_time"] is not None
            ids = {"execution": execution_id, "step": step_id}
            # As ``cancel_targets`` would, or ``transition`` to Failed one target at a time.
            if canceled:
                end_rows(connection, STEP_TARGETS, Lifecycle.CANCELED, now, "canceled", ids)
            elif error:
                end_rows(connection, STEP_TARGETS, Lifecycle.FAILED, now, error, ids)
            targets = {str(state): int(count) for state, count in connection.execute(_ROLLUP, ids)}
            active = sum(count for state, count in targets.items() if Lifecycle(state) in ACTIVE)
            if active:
                raise TargetsStillActive(execution_id, step_id, active)
            step_ended = not Lifecycle(step["lifecycle"]).is_terminal
            if step_ended:
                if canceled and not targets:
                    step = apply_lifecycle(connection, step, Lifecycle.CANCELED, now, None, None)
                else:
                    outcome = rollup(Lifecycle(state) for state in targets)
                    message = error or _summary(targets)
                    step = apply_lifecycle(connection, step, outcome, now, message, None)
                steps[index] = step
            lifecycle = Lifecycle(step["lifecycle"])
            stop = canceled
            if not stop and lifecycle in STOPPING:
                if on_failure is None:
                    on_failure = _on_failure(connection, step)
                stop = on_failure != OnFailure.CONTINUE
            execution, execution_ended = None, False
            if stop or last:
                execution_ended = not Lifecycle(job["lifecycle"]).is_terminal
                if execution_ended:
                    job, steps = end_execution(connection, job, steps, now, execution_message)
                execution = execution_document(job, steps)
            return FinishedStep(
                StepExecution.model_validate({**row_document(step), "targets": []}),
                targets,
                stop,
                step_ended,
                execution,
                execution_ended,
            )

    def finish_job_execution(
        self, job_execution_id: str, *, message: str | None = None
    ) -> JobExecution:
        """End an execution with the rollup of its steps. Steps that never started (an
        earlier step stopped the job) become ``Skipped``. Raises ``Conflict`` while a started
        step is still active. Answers the execution with its steps, without target rows."""
        now = self._clock()
        with self._db.write("job execution", job_execution_id) as connection:
            job: Row = execution_row(connection, job_execution_id, lock=True)
            steps = step_rows(connection, job["job_execution_id"], lock=True)
            job, steps = end_execution(connection, job, steps, now, message)
            return execution_document(job, steps)


# How many targets of one step are in each state.
_ROLLUP = sa.select(E.c.lifecycle, sa.func.count()).where(STEP_TARGETS).group_by(E.c.lifecycle)


def step_rows(connection: Connection, job_execution_id: str, *, lock: bool = False) -> list[Row]:
    """The step rows of an execution in step order; ``lock``: under their lock (take the job
    row's lock first: every writer of both takes them in that order)."""
    query = _LOCKED_STEP_ROWS if lock else _STEP_ROWS
    return list(connection.execute(query, {"job_execution_id": job_execution_id}).mappings())


def end_execution(
    connection: Connection, job: Row, steps: Sequence[Row], now: dt.datetime, message: str | None
) -> tuple[Row, list[Row]]:
    """End the job row with the rollup of its ``steps`` (read under their locks); steps never
    started become ``Skipped`` (in one statement). Answers both as they are now. Raises
    ``Conflict`` while a started step is still active."""
    created = [row["row_id"] for row in steps if row["lifecycle"] == Lifecycle.CREATED.value]
    skipped = lifecycle_values(None, Lifecycle.SKIPPED, now, NOT_RUN, None)
    if created:
        connection.execute(E.update().where(E.c.row_id.in_(created)).values(skipped))
    steps = [{**row, **skipped} if row["row_id"] in created else row for row in steps]
    states: dict[str, int] = {}
    for row in steps:
        states[row["lifecycle"]] = states.get(row["lifecycle"], 0) + 1
    active = sum(count for state, count in states.items() if Lifecycle(state) in ACTIVE)
    if active:
        raise Conflict("job execution", row_name(job), f"{active} child execution(s) still active")
    outcome = rollup(Lifecycle(state) for state in states)
    job = apply_lifecycle(connection, job, outcome, now, message or _summary(states), None)
    return job, steps


def execution_document(job: Row, steps: Sequence[Row]) -> JobExecution:
    """The execution of ``job`` with its ``steps``, without target rows."""
    documents = [{**row_document(row), "targets": []} for row in steps]
    return JobExecution.model_validate({**row_document(job), "steps": documents})


def _on_failure(connection: Connection, step: Row) -> OnFailure:
    """What the step's job version says its failure does (an activity's input from an older
    version does not say)."""
    keys = {name: step[name] for name in ("job_id", "job_version", "step_id")}
    return OnFailure(connection.execute(_ON_FAILURE, keys).scalar_one())


def _summary(counts: Mapping[str, int]) -> str:
    if not counts:
        return "no targets"
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
