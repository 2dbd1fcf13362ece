"""Reruns (part of ``SqlJobStore``): a new execution of an ended one's job version on only the
targets that ended in chosen lifecycles.

The rerun keeps those databases in ``rerun_targets``; each of its steps then expands its target
group as any execution does and keeps only them (``keep_rerun_targets``), so a step runs on a
database only if its group still holds it, with the credentials the version names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from sqlfleet.engine import Engine
from sqlfleet.errors import Conflict, NotFound
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import JobExecution, TargetSpec, new_id
from sqlfleet.store.database import Database
from sqlfleet.store.executions import insert_execution
from sqlfleet.store.history import read_execution
from sqlfleet.store.rows import execution_row, uuid_text
from sqlfleet.store.tables import job_executions, jobs, rerun_targets
from sqlfleet.store.versions import read_version

E = job_executions
R = rerun_targets
TargetKey = tuple[str, str, int | None, str | None]


def target_key(engine: str, server: str, port: int | None, database: str | None) -> TargetKey:
    """What makes two targets the same database (as target expansion collapses them)."""
    return (engine, server.lower(), port, database)


# The databases a rerun keeps (built once: every step's expansion asks).
_CHOSEN_TARGETS = sa.select(
    R.c.target_engine, R.c.target_server_name, R.c.target_port, R.c.target_database_name
).where(R.c.job_execution_id == sa.bindparam("id"))


class RerunStore:
    _db: Database
    _clock: Callable[[], dt.datetime]

    def create_rerun(
        self,
        job_execution_id: str,
        lifecycles: Sequence[Lifecycle],
        *,
        rerun_id: str | None = None,
        instance_id: str | None = None,
    ) -> JobExecution:
        """A ``Created`` execution of the same job version as ``job_execution_id``, recorded as
        its rerun, that will run only on the databases whose target executions ended in one of
        ``lifecycles`` (in any step).

        Raises ``NotFound`` (the execution, or its job was deleted), ``Conflict`` while it is
        active or when none of its targets ended so.
        """
        execution_id = rerun_id or new_id()
        wanted = sorted({Lifecycle(state).value for state in lifecycles})
        now = self._clock()
        with self._db.write("job execution", execution_id) as connection:
            original = execution_row(connection, job_execution_id)
            original_id = original["job_execution_id"]
            if original["is_active"]:
                raise Conflict(
                    "job execution",
                    original_id,
                    "is still active; rerun it once it has ended (or stop it with "
                    f"POST /api/executions/{original_id}/cancel)",
                    field="id",
                )
            job = (
                connection.execute(sa.select(jobs).where(jobs.c.job_id == original["job_id"]))
                .mappings()
                .first()
            )
            if job is None:
                raise NotFound("job", original["job_name"], "it was deleted; nothing to rerun")
            rows = connection.execute(
                sa.select(
                    E.c.target_engine,
                    E.c.target_server_name,
                    E.c.target_port,
                    E.c.target_database_name,
                )  # fmt: skip
                .where(
                    E.c.job_execution_id == original_id,
                    E.c.target_ordinal.is_not(None),
                    E.c.lifecycle.in_(wanted),
                )
                .order_by(E.c.step_id, E.c.target_ordinal)
            )
            chosen: dict[TargetKey, dict[str, object]] = {}
            for engine, server, port, database in rows:
                engine = engine or Engine.SQLSERVER.value
                chosen.setdefault(
                    target_key(engine, server or "", port, database),
                    {
                        "target_engine": engine,
                        "target_server_name": server or "",
                        "target_port": port,
                        "target_database_name": database,
                    },
                )
            if not chosen:
                raise Conflict(
                    "job execution",
                    original_id,
                    f"has no target execution that ended {' or '.join(wanted)}; nothing to rerun",
                    field="lifecycles",
                )
            version = read_version(connection, job, original["job_version"])
            insert_execution(
                connection,
                job,
                version,
                execution_id,
                instance_id,
                now,
                rerun_of=original_id,
                parameters_json=original["parameters_json"],
            )
            connection.execute(
                R.insert(),
                [
                    {"job_execution_id": execution_id, "position": position, **target}
                    for position, target in enumerate(chosen.values())
                ],
            )
            return read_execution(connection, execution_id, include_targets=False)

    def keep_rerun_targets(
        self, job_execution_id: str, targets: Sequence[TargetSpec]
    ) -> list[TargetSpec]:
        """``targets`` as they are, or for a rerun only those among its chosen databases."""
        with self._db.read() as connection:
            rows = connection.execute(_CHOSEN_TARGETS, {"id": uuid_text(job_execution_id)}).all()
        if not rows:
            return list(targets)
        chosen = {target_key(*row) for row in rows}
        return [
            target
            for target in targets
            if target_key(
                target.engine.value, target.server_name, target.port, target.database_name
            )
            in chosen
        ]
