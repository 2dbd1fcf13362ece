"""Ad hoc runs in the job database (part of ``SqlJobStore``).

A run (``POST /api/runs``, ``sqlfleet run``) is stored as a *hidden job*: a ``jobs`` row of kind
``run`` named after the run, whose one step is the run's command, versioned as any job (a run
under a name used before writes a new version when its command or settings differ, so every
execution keeps what it ran). Databases given by address (``--database``) become a hidden
target group ``~run-<execution id>``: the API refuses names with that prefix to everyone else
(``RUN_GROUP_PREFIX``), so no group can clash with it. Hidden jobs and groups are never listed
(``jobs list``, ``target-groups list``, ``export``); an execution of a run is listed among the
executions under the run's name. Removing (or purging) a run's execution removes its hidden
group, and the hidden job once it has no execution left.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlfleet.store.tables import (
    job_executions,
    job_steps,
    job_versions,
    jobs,
    target_group_members,
    target_groups,
)
from sqlfleet.store.versions import RUN_KIND

RUN_GROUP_PREFIX = "~run-"


def run_group_name(job_execution_id: str) -> str:
    """The hidden target group of the run execution ``job_execution_id``."""
    return RUN_GROUP_PREFIX + job_execution_id


def is_hidden_group(name: str) -> bool:
    return name.startswith(RUN_GROUP_PREFIX)


def forget_runs(connection: Connection, execution_ids: Sequence[str], job_ids: set[str]) -> None:
    """After executions ``execution_ids`` (of jobs ``job_ids``) were deleted: delete their
    hidden groups, and the hidden jobs among ``job_ids`` that have no execution left."""
    names = [run_group_name(str(execution_id)) for execution_id in execution_ids]
    for start in range(0, len(names), 500):
        group_ids = sa.select(target_groups.c.target_group_id).where(
            target_groups.c.name.in_(names[start : start + 500])
        )
        connection.execute(
            target_group_members.delete().where(
                target_group_members.c.target_group_id.in_(group_ids)
            )
        )
        connection.execute(
            target_groups.delete().where(target_groups.c.name.in_(names[start : start + 500]))
        )
    if not job_ids:
        return
    left = sa.select(job_executions.c.job_id).where(job_executions.c.job_id == jobs.c.job_id)
    orphans = list(
        connection.execute(
            sa.select(jobs.c.job_id).where(
                jobs.c.kind == RUN_KIND, jobs.c.job_id.in_(sorted(job_ids)), ~left.exists()
            )
        ).scalars()
    )
    if orphans:
        connection.execute(job_steps.delete().where(job_steps.c.job_id.in_(orphans)))
        connection.execute(job_versions.delete().where(job_versions.c.job_id.in_(orphans)))
        connection.execute(jobs.delete().where(jobs.c.job_id.in_(orphans)))
