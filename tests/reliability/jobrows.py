"""The job database as the reliability suites see it: rows counted directly, not through the API.

The API could hide a duplicate or a lost row (it builds one document per execution); these
checks read ``job_executions`` itself, on SQLite or PostgreSQL alike, through SQLAlchemy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

# Execution ids are UUIDs: CHAR(32) hex on SQLite, uuid on PostgreSQL; let SQLAlchemy convert.
_ID = sa.Uuid(as_uuid=False)
TERMINAL = {"Succeeded", "SucceededWithSkipped", "Failed", "TimedOut", "Canceled", "Skipped"}


@dataclass(frozen=True)
class Row:
    step_id: int | None
    ordinal: int | None
    lifecycle: str
    is_active: bool
    database: str | None
    attempts: int
    message: str | None


class JobRows:
    """Reads ``job_executions`` at ``url`` with a fresh connection per call (the host owns the
    database; the suite only looks)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, execution_id: str) -> list[Row]:
        query = sa.text(
            "SELECT step_id, target_ordinal, lifecycle, is_active, target_database_name, "
            "current_attempts, last_message FROM job_executions WHERE job_execution_id = :id"
        ).bindparams(sa.bindparam("id", type_=_ID))
        with self.engine.connect() as connection:
            found = connection.execute(query, {"id": execution_id}).all()
        return [Row(r[0], r[1], r[2], bool(r[3]), r[4], int(r[5] or 0), r[6]) for r in found]

    def execution_ids(self, job_name: str) -> list[str]:
        query = sa.text(
            "SELECT DISTINCT job_execution_id FROM job_executions WHERE job_name = :name"
        ).columns(job_execution_id=_ID)
        with self.engine.connect() as connection:
            return [str(r[0]) for r in connection.execute(query, {"name": job_name})]

    def progress(self, execution_id: str) -> tuple[int, bool]:
        """(terminal target rows, whether the execution row is still active)."""
        query = sa.text(
            "SELECT step_id, target_ordinal, lifecycle, is_active FROM job_executions "
            "WHERE job_execution_id = :id"
        ).bindparams(sa.bindparam("id", type_=_ID))
        with self.engine.connect() as connection:
            found = connection.execute(query, {"id": execution_id}).all()
        done = sum(1 for r in found if r[1] is not None and r[2] in TERMINAL)
        active = any(bool(r[3]) for r in found if r[0] is None) or not found
        return done, active


def execution_problems(
    rows: Iterable[Row],
    step_ids: Iterable[int],
    databases: Iterable[str],
    lifecycle: str = "Succeeded",
) -> list[str]:
    """What is wrong with an ended execution whose every step should have run on every one of
    ``databases`` and ended ``lifecycle``: lost, duplicated or unfinished rows (empty: none)."""
    rows, step_ids, wanted = list(rows), sorted(step_ids), sorted(databases)
    problems: list[str] = []
    job = [r for r in rows if r.step_id is None]
    if len(job) != 1:
        problems.append(f"{len(job)} job execution rows, expected 1")
    problems += [
        f"job row is {r.lifecycle} (active={r.is_active})"
        for r in job
        if r.lifecycle != lifecycle or r.is_active
    ]
    steps = Counter(r.step_id for r in rows if r.step_id is not None and r.ordinal is None)
    if sorted(steps) != step_ids or any(count != 1 for count in steps.values()):
        problems.append(f"step rows per step id: {dict(steps)}, expected one each of {step_ids}")
    problems += [
        f"step {r.step_id} row is {r.lifecycle} (active={r.is_active})"
        for r in rows
        if r.step_id is not None and r.ordinal is None and (r.lifecycle != lifecycle or r.is_active)
    ]
    for step_id in step_ids:
        targets = [r for r in rows if r.step_id == step_id and r.ordinal is not None]
        per_database = Counter(r.database for r in targets)
        duplicated = sorted(str(d) for d, count in per_database.items() if count > 1)
        lost = sorted(set(wanted) - set(per_database))
        extra = sorted(str(d) for d in set(per_database) - set(wanted))
        ordinals = sorted(r.ordinal for r in targets if r.ordinal is not None)
        if duplicated or lost or extra:
            problems.append(
                f"step {step_id}: {len(duplicated)} duplicated (e.g. {duplicated[:3]}), "
                f"{len(lost)} lost (e.g. {lost[:3]}), {len(extra)} unexpected target rows"
            )
        if ordinals != list(range(len(wanted))):
            problems.append(f"step {step_id}: ordinals are not 0..{len(wanted) - 1}")
        unfinished = [r for r in targets if r.lifecycle != lifecycle or r.is_active]
        if unfinished:
            sample = unfinished[0]
            problems.append(
                f"step {step_id}: {len(unfinished)} targets not {lifecycle}, e.g. "
                f"{sample.database} {sample.lifecycle} active={sample.is_active}: {sample.message}"
            )
    return problems
