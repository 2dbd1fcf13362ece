"""How job versions are stored: a version row plus its own step rows (``job_steps``).

Part of ``SqlJobStore``; ``jobs.py`` decides what changes, this module reads and writes versions.

Versions are pruned (``prune_versions``): every job keeps its newest ``SQLFLEET_JOB_VERSIONS_KEPT``
versions (10), the current one among them, and every version an execution still in the history
ran, so that an execution always shows (and a rerun runs) the steps it started with. The others
go when a new version is written and when executions leave the history. Without it every
``PUT`` of a job would stay in the job database for good: 50 steps of 1 MiB, 50 MB each time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sqlfleet.errors import NotFound
from sqlfleet.models import Job, JobStep, JobVersion, OutputDestination, Schedule
from sqlfleet.models.jobs import StepFields
from sqlfleet.models.parameters import ParameterDeclaration
from sqlfleet.store.notifications import read_rules
from sqlfleet.store.tables import job_executions, job_steps, job_versions, jobs

JOB_KIND, RUN_KIND = "job", "run"
COMMAND_TYPE = "TSql"
# Versions deleted per statement (bind parameters stay far below every engine's limit).
_PRUNE_CHUNK = 500
OUTPUT_TYPE = "SqlDatabase"
_STEP_COLUMNS = (
    "command",
    "credential_name",
    "target_group_name",
    "retry_attempts",
    "initial_retry_interval_seconds",
    "maximum_retry_interval_seconds",
    "retry_interval_backoff_multiplier",
    "step_timeout_seconds",
    "max_parallelism",
)


def write_version(
    connection: Connection,
    job_id: str,
    current: int,
    drafts: Sequence[StepFields],
    now: dt.datetime,
    keep: int,
) -> int:
    """Write version ``current + 1`` with ``drafts`` as steps 1..n and make it current, then
    prune the job's versions to the newest ``keep`` and those executions ran."""
    version = current + 1
    connection.execute(
        job_versions.insert().values(job_id=job_id, job_version=version, created_time=now)
    )
    if drafts:
        connection.execute(
            job_steps.insert(),
            [_step_values(job_id, version, i + 1, draft) for i, draft in enumerate(drafts)],
        )
    connection.execute(
        jobs.update().where(jobs.c.job_id == job_id).values(job_version=version, modified_time=now)
    )
    prune_versions(connection, job_id, version, keep)
    return version


def prune_versions(connection: Connection, job_id: str, current: int, keep: int) -> list[int]:
    """Delete the versions of job ``job_id`` older than its newest ``keep`` (``current`` the
    newest) that no execution in the history ran; answers their numbers."""
    oldest_kept = current - max(1, keep) + 1
    if oldest_kept <= 0:
        return []
    older = list(
        connection.execute(
            sa.select(job_versions.c.job_version).where(
                job_versions.c.job_id == job_id, job_versions.c.job_version < oldest_kept
            )
        ).scalars()
    )
    if not older:
        return []
    # Job rows only (a NULL step_id): one per execution, found through their own index.
    ran = set(
        connection.execute(
            sa.select(job_executions.c.job_version)
            .distinct()
            .where(
                job_executions.c.step_id.is_(None),
                job_executions.c.job_id == job_id,
                job_executions.c.job_version < oldest_kept,
            )
        ).scalars()
    )
    doomed = [number for number in older if number not in ran]
    for start in range(0, len(doomed), _PRUNE_CHUNK):
        chunk = doomed[start : start + _PRUNE_CHUNK]
        connection.execute(
            job_steps.delete().where(
                job_steps.c.job_id == job_id, job_steps.c.job_version.in_(chunk)
            )
        )
        connection.execute(
            job_versions.delete().where(
                job_versions.c.job_id == job_id, job_versions.c.job_version.in_(chunk)
            )
        )
    return doomed


def prune_jobs_versions(connection: Connection, job_ids: Sequence[str], keep: int) -> None:
    """``prune_versions`` for each of ``job_ids`` (executions of theirs left the history)."""
    for job_id in sorted(set(job_ids)):
        current = connection.execute(
            sa.select(jobs.c.job_version).where(jobs.c.job_id == job_id)
        ).scalar()
        if current is not None:
            prune_versions(connection, job_id, current, keep)


def _step_values(job_id: str, version: int, step_id: int, draft: StepFields) -> dict[str, Any]:
    output = draft.output
    values: dict[str, Any] = {name: getattr(draft, name) for name in _STEP_COLUMNS}
    values.update(
        job_id=job_id,
        job_version=version,
        step_id=step_id,
        step_name=draft.step_name,
        command_type=COMMAND_TYPE,
        on_failure=draft.on_failure.value,
        retry_on=draft.retry_on.value,
        output_result_set=output.result_set if output else None,
        output_type=OUTPUT_TYPE if output else None,
        output_engine=output.engine.value if output else None,
        output_server_name=output.server_name if output else None,
        output_port=output.port if output else None,
        output_database_name=output.database_name if output else None,
        output_schema_name=output.schema_name if output else None,
        output_table_name=output.table_name if output else None,
        output_credential_name=output.credential_name if output else None,
    )
    return values


def _output(row: RowMapping) -> OutputDestination | None:
    if row["output_type"] is None:
        return None
    return OutputDestination.model_validate(
        {
            "engine": row["output_engine"],
            "server_name": row["output_server_name"],
            "port": row["output_port"],
            "database_name": row["output_database_name"],
            "schema_name": row["output_schema_name"],
            "table_name": row["output_table_name"],
            "credential_name": row["output_credential_name"],
            "result_set": row["output_result_set"],
        }
    )


# Built once: these run for every execution started (and every job read).
_STEP_ROWS = (
    sa.select(job_steps)
    .where(
        job_steps.c.job_id == sa.bindparam("job_id"),
        job_steps.c.job_version == sa.bindparam("version"),
    )
    .order_by(job_steps.c.step_id)
)
_JOB_ROW = sa.select(jobs).where(jobs.c.name == sa.bindparam("name"))
_JOB_ROW_LOCKED = _JOB_ROW.with_for_update()
_VERSION_CREATED = sa.select(job_versions.c.created_time).where(
    job_versions.c.job_id == sa.bindparam("job_id"),
    job_versions.c.job_version == sa.bindparam("version"),
)


def _step_rows(connection: Connection, job_id: str, version: int) -> list[RowMapping]:
    return list(connection.execute(_STEP_ROWS, {"job_id": job_id, "version": version}).mappings())


def load_drafts(connection: Connection, job_id: str, version: int) -> list[StepFields]:
    """The steps of a version as editable drafts (content and name, no position)."""
    return [
        StepFields.model_validate(
            {name: row[name] for name in _STEP_COLUMNS}
            | {
                "step_name": row["step_name"],
                "on_failure": row["on_failure"],
                "retry_on": row["retry_on"],
                "output": _output(row),
            }
        )
        for row in _step_rows(connection, job_id, version)
    ]


def job_row(
    connection: Connection, name: str, *, required: bool = True, lock: bool = False
) -> RowMapping:
    """The ``jobs`` row of ``name``; ``NotFound`` unless ``required`` is False (then None).
    ``lock`` holds the row until the transaction ends."""
    # The lock serialises concurrent step changes of one job (each computes the next version).
    query = _JOB_ROW_LOCKED if lock else _JOB_ROW
    row = connection.execute(query, {"name": name}).mappings().first()
    if row is None and required:
        raise NotFound("job", name, f"create it with PUT /api/jobs/{name}")
    return row  # type: ignore[return-value]


def read_version(connection: Connection, job: RowMapping, version: int | None) -> JobVersion:
    """Version ``version`` (default: current) of the job row ``job``, with its steps."""
    number = job["job_version"] if version is None else version
    found = connection.execute(
        _VERSION_CREATED, {"job_id": job["job_id"], "version": number}
    ).first()
    if found is None:
        raise NotFound(
            "job version",
            number,
            f"job '{job['name']}' is at version {job['job_version']}; it keeps its newest "
            "versions (SQLFLEET_JOB_VERSIONS_KEPT) and those its executions ran",
        )
    steps = [
        JobStep(
            job_name=job["name"],
            job_version=number,
            step_id=row["step_id"],
            step_name=row["step_name"],
            command=row["command"],
            credential_name=row["credential_name"],
            target_group_name=row["target_group_name"],
            retry_attempts=row["retry_attempts"],
            initial_retry_interval_seconds=row["initial_retry_interval_seconds"],
            maximum_retry_interval_seconds=row["maximum_retry_interval_seconds"],
            retry_interval_backoff_multiplier=row["retry_interval_backoff_multiplier"],
            step_timeout_seconds=row["step_timeout_seconds"],
            max_parallelism=row["max_parallelism"],
            on_failure=row["on_failure"],
            retry_on=row["retry_on"],
            output=_output(row),
        )
        for row in _step_rows(connection, job["job_id"], number)
    ]
    return JobVersion(
        job_name=job["name"],
        job_id=job["job_id"],
        job_version=number,
        created_time=found.created_time,
        step_count=len(steps),
        steps=steps,
    )


def declarations_json(declarations: Sequence[ParameterDeclaration]) -> str | None:
    """What ``jobs.parameters_json`` holds for ``declarations`` (None for none)."""
    if not declarations:
        return None
    return json.dumps([declaration.model_dump(mode="json") for declaration in declarations])


def read_declarations(row: RowMapping) -> list[ParameterDeclaration]:
    """The parameters the ``jobs`` row ``row`` declares."""
    text = row["parameters_json"]
    if not text:
        return []
    return [ParameterDeclaration.model_validate(item) for item in json.loads(text)]


def read_job(connection: Connection, name: str) -> Job:
    """Job ``name`` with the steps of its current version. Raises ``NotFound``."""
    row = job_row(connection, name)
    return Job(
        name=row["name"],
        job_id=row["job_id"],
        description=row["description"],
        enabled=row["enabled"],
        schedule=Schedule(
            interval_type=row["schedule_interval_type"],
            interval_count=row["schedule_interval_count"],
            start_time=row["schedule_start_time"],
            end_time=row["schedule_end_time"],
            time_zone=row["schedule_time_zone"],
            cron=row["schedule_cron"],
        ),
        parameters=read_declarations(row),
        job_version=row["job_version"],
        steps=read_version(connection, row, None).steps,
        created_time=row["created_time"],
        modified_time=row["modified_time"],
        notifications=read_rules(connection, row["job_id"]),
    )
