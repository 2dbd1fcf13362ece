"""Jobs, their versions and steps in the job database (part of ``SqlJobStore``).

Versioning (Elastic Jobs' rules): a job starts at version 0; every step change (add, replace,
update, move, delete) writes a whole new version with its own step rows, ids 1..n without gaps,
and makes it current. Older versions stay readable as long as they are kept (the newest
``SQLFLEET_JOB_VERSIONS_KEPT``, and every one an execution in the history ran: ``versions.
prune_versions``); executions keep the version they started with. A change that changes nothing
writes no version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from sqlfleet.errors import ActiveExecutions, Conflict, NotFound, ValidationFailed
from sqlfleet.models import (
    DEFAULT_STEP_NAME,
    Job,
    JobIn,
    JobStep,
    JobVersion,
    JobVersionSummary,
    StepIn,
    StepPatch,
    new_id,
)
from sqlfleet.models.jobs import StepFields
from sqlfleet.models.parameters import ParameterDeclaration
from sqlfleet.models.validation import problems_error
from sqlfleet.store.database import Database
from sqlfleet.store.definitions import (
    group_engines,
    refuse_identity_on,
    require_credential,
    require_target_group,
)
from sqlfleet.store.notifications import write_rules
from sqlfleet.store.tables import (
    job_executions,
    job_steps,
    job_versions,
    jobs,
    notification_deliveries,
    target_messages,
    target_outcomes,
    target_results,
)
from sqlfleet.store.versions import (
    JOB_KIND,
    declarations_json,
    job_row,
    load_drafts,
    read_declarations,
    read_job,
    read_version,
    write_version,
)

StepRef = int | str


class JobDefinitionStore:
    """Jobs (PUT creates or replaces), steps and versions."""

    _db: Database
    _clock: Callable[[], dt.datetime]
    _versions_kept: int

    def list_jobs(self) -> list[Job]:
        with self._db.read() as connection:
            names = connection.execute(
                sa.select(jobs.c.name).where(jobs.c.kind == JOB_KIND).order_by(jobs.c.name)
            ).scalars()
            return [read_job(connection, name) for name in list(names)]

    def get_job(self, name: str) -> Job:
        """Raises ``NotFound``."""
        with self._db.read() as connection:
            return read_job(connection, name)

    def put_job(self, name: str, document: JobIn, *, kind: str = JOB_KIND) -> tuple[Job, bool]:
        """Create or replace job ``name``; returns it and whether it was created. ``kind``
        ``run`` is the hidden job of ad hoc runs (``sqlfleet.store.runs``); a name is of one
        kind only (``Conflict``).

        ``document.steps`` (when given) become the steps of a new version if they differ from
        the current ones. Raises ``ValidationFailed`` naming ``steps[i].<field>`` for unknown
        credentials or target groups.
        """
        now = self._clock()
        with self._db.write("job", name) as connection:
            row = job_row(connection, name, required=False, lock=True)
            if row is not None and row["kind"] != kind:
                raise Conflict(
                    "job",
                    name,
                    "is the name of ad hoc runs (sqlfleet run --name); choose another"
                    if kind == JOB_KIND
                    else "is the name of a job; give the run another --name",
                    field="name",
                )
            declarations = (
                document.parameters
                if document.parameters is not None
                else (read_declarations(row) if row is not None else [])
            )
            _check_scheduled_parameters(document.enabled, declarations)
            drafts = None
            if document.steps is not None:
                drafts = [
                    _draft(step, step.step_name or DEFAULT_STEP_NAME) for step in document.steps
                ]
                for index, draft in enumerate(drafts):
                    _check_references(connection, draft, f"steps[{index}].")
            for index, rule in enumerate(document.notifications or []):
                for field in ("secret_credential_name", "smtp_credential_name"):
                    require_credential(
                        connection, getattr(rule, field), f"notifications[{index}].{field}"
                    )
            values = {
                "description": document.description,
                "enabled": document.enabled,
                "schedule_interval_type": document.schedule.interval_type.value,
                "schedule_interval_count": document.schedule.interval_count,
                "schedule_start_time": document.schedule.start_time,
                "schedule_end_time": document.schedule.end_time,
                "schedule_time_zone": document.schedule.time_zone,
                "schedule_cron": document.schedule.cron,
                "parameters_json": declarations_json(declarations),
                "modified_time": now,
            }
            if row is None:
                job_id = new_id()
                connection.execute(
                    jobs.insert().values(
                        job_id=job_id,
                        name=name,
                        job_version=0,
                        created_time=now,
                        kind=kind,
                        **values,
                    )
                )
                connection.execute(
                    job_versions.insert().values(job_id=job_id, job_version=0, created_time=now)
                )
                if drafts:
                    write_version(connection, job_id, 0, drafts, now, self._versions_kept)
                if document.notifications is not None:
                    write_rules(connection, job_id, document.notifications)
            else:
                connection.execute(
                    jobs.update().where(jobs.c.job_id == row["job_id"]).values(**values)
                )
                current = load_drafts(connection, row["job_id"], row["job_version"])
                if drafts is not None and _dump(drafts) != _dump(current):
                    write_version(
                        connection,
                        row["job_id"],
                        row["job_version"],
                        drafts,
                        now,
                        self._versions_kept,
                    )
                if document.notifications is not None:
                    write_rules(connection, row["job_id"], document.notifications)
            return read_job(connection, name), row is None

    def delete_job(self, name: str, *, force: bool = False) -> list[str]:
        """Delete job ``name`` with its versions and history (as ``sp_delete_job``).

        Raises ``ActiveExecutions`` while executions are active, unless ``force``; returns the
        ids of the active executions deleted (their orchestrations must be told to stop).
        """
        with self._db.write("job", name) as connection:
            row = job_row(connection, name, lock=True)
            job_id = row["job_id"]
            active = list(
                connection.execute(
                    sa.select(job_executions.c.job_execution_id)
                    .where(
                        job_executions.c.job_id == job_id,
                        job_executions.c.step_id.is_(None),
                        job_executions.c.is_active.is_(True),
                    )
                    .order_by(job_executions.c.create_time)
                ).scalars()
            )
            if active and not force:
                raise ActiveExecutions(name, active)
            rows = sa.select(job_executions.c.row_id).where(job_executions.c.job_id == job_id)
            executions = sa.select(job_executions.c.job_execution_id).where(
                job_executions.c.job_id == job_id
            )
            connection.execute(
                notification_deliveries.delete().where(
                    notification_deliveries.c.job_execution_id.in_(executions)
                )
            )
            connection.execute(target_messages.delete().where(target_messages.c.row_id.in_(rows)))
            connection.execute(target_results.delete().where(target_results.c.row_id.in_(rows)))
            connection.execute(target_outcomes.delete().where(target_outcomes.c.row_id.in_(rows)))
            connection.execute(job_executions.delete().where(job_executions.c.job_id == job_id))
            connection.execute(job_steps.delete().where(job_steps.c.job_id == job_id))
            connection.execute(job_versions.delete().where(job_versions.c.job_id == job_id))
            connection.execute(jobs.delete().where(jobs.c.job_id == job_id))
            return active

    def list_steps(self, job_name: str, version: int | None = None) -> list[JobStep]:
        """Steps of the current (or a given) version. Raises ``NotFound``."""
        return self.get_job_version(job_name, version).steps

    def get_step(self, job_name: str, step: StepRef, version: int | None = None) -> JobStep:
        """Step by id (int) or name (str). Raises ``NotFound``."""
        steps = self.get_job_version(job_name, version).steps
        index = _find(steps, step)
        if index is None:
            raise NotFound("step", step, f"job '{job_name}' has {len(steps)} step(s)")
        return steps[index]

    def add_step(self, job_name: str, document: StepIn) -> JobStep:
        """Append the step, or insert it at ``document.step_id`` shifting later steps.

        Raises ``NotFound`` (job), ``Conflict`` (duplicate step name), ``ValidationFailed``.
        """
        if document.new_id is not None:
            raise ValidationFailed(
                "new_id", "moving applies to existing steps: use PUT or PATCH on the step"
            )

        def change(drafts: list[StepFields]) -> int:
            name = _new_step_name(job_name, drafts, document.step_name)
            position = document.step_id or len(drafts) + 1
            if position > len(drafts) + 1:
                raise ValidationFailed(
                    "step_id",
                    f"job '{job_name}' has {len(drafts)} step(s); step_id must be from 1 to "
                    f"{len(drafts) + 1}",
                )
            drafts.insert(position - 1, _draft(document, name))
            return position

        return _changed(self._change_steps(job_name, change))

    def put_step(self, job_name: str, step: StepRef, document: StepIn) -> tuple[JobStep, bool]:
        """Create or replace a step by id or name; ``document.new_id`` moves it.

        A new id must be the next free one (n + 1); a new name appends. Returns the step and
        whether it was created. Replacing a step with identical content writes no version.
        """
        created = False

        def change(drafts: list[StepFields]) -> int:
            nonlocal created
            index = _find(drafts, step)
            if index is None:
                created = True
                if isinstance(step, int) and step != len(drafts) + 1:
                    raise NotFound(
                        "step",
                        step,
                        f"job '{job_name}' has {len(drafts)} step(s); add one with "
                        f"POST /api/jobs/{job_name}/steps",
                    )
                if isinstance(step, str) and document.step_name not in (None, step):
                    raise ValidationFailed("step_name", "differs from the step name in the path")
                name = _new_step_name(job_name, drafts, document.step_name or _name_of(step))
                drafts.append(_draft(document, name))
                index = len(drafts) - 1
            else:
                if document.step_id not in (None, index + 1):
                    raise ValidationFailed(
                        "step_id", "differs from the step in the path; use new_id to move a step"
                    )
                name = document.step_name or drafts[index].step_name or DEFAULT_STEP_NAME
                _unique_name(job_name, drafts, name, skip=index)
                drafts[index] = _draft(document, name)
            return _move(drafts, index, document.new_id) + 1

        saved = _changed(self._change_steps(job_name, change))
        return saved, created

    def update_step(self, job_name: str, step: StepRef, patch: StepPatch) -> JobStep:
        """Change only the fields ``patch`` sets (``sp_update_jobstep``); ``new_id`` moves."""

        def change(drafts: list[StepFields]) -> int:
            index = _require(job_name, drafts, step)
            merged = drafts[index].model_dump()
            for field in patch.model_fields_set - {"new_id", "new_name"}:
                merged[field] = getattr(patch, field)
            if patch.new_name is not None:
                _unique_name(job_name, drafts, patch.new_name, skip=index)
                merged["step_name"] = patch.new_name
            try:
                drafts[index] = StepFields.model_validate(merged)
            except ValidationError as error:
                raise problems_error(error.errors(include_url=False, include_input=False)) from None
            return _move(drafts, index, patch.new_id) + 1

        return _changed(self._change_steps(job_name, change))

    def delete_step(self, job_name: str, step: StepRef) -> int:
        """Delete a step; later steps move up. Returns the new job version."""

        def change(drafts: list[StepFields]) -> int:
            drafts.pop(_require(job_name, drafts, step))
            return 0

        return self._change_steps(job_name, change)[1]

    def list_job_versions(self, job_name: str) -> list[JobVersionSummary]:
        with self._db.read() as connection:
            row = job_row(connection, job_name)
            counts = (
                sa.select(sa.func.count())
                .where(
                    job_steps.c.job_id == job_versions.c.job_id,
                    job_steps.c.job_version == job_versions.c.job_version,
                )
                .scalar_subquery()
            )
            rows = connection.execute(
                sa.select(job_versions.c.job_version, job_versions.c.created_time, counts)
                .where(job_versions.c.job_id == row["job_id"])
                .order_by(job_versions.c.job_version)
            )
            return [
                JobVersionSummary(
                    job_name=job_name,
                    job_id=row["job_id"],
                    job_version=version,
                    created_time=created,
                    step_count=count,
                )
                for version, created, count in rows
            ]

    def get_job_version(self, job_name: str, version: int | None = None) -> JobVersion:
        """A version with its steps (default: the current one). Raises ``NotFound``."""
        with self._db.read() as connection:
            return read_version(connection, job_row(connection, job_name), version)

    def _change_steps(
        self,
        job_name: str,
        change: Callable[[list[StepFields]], int],
    ) -> tuple[JobStep | None, int]:
        """Apply ``change`` to the current steps and save a new version if anything changed.

        ``change`` edits the list in place and returns the 1-based position of the step to
        answer with (checked for references) or 0.
        """
        now = self._clock()
        with self._db.write("job", job_name) as connection:
            row = job_row(connection, job_name, lock=True)
            before = load_drafts(connection, row["job_id"], row["job_version"])
            drafts = list(before)
            position = change(drafts)
            if position:
                _check_references(connection, drafts[position - 1], "")
            version = row["job_version"]
            if _dump(drafts) != _dump(before):
                version = write_version(
                    connection, row["job_id"], version, drafts, now, self._versions_kept
                )
            steps = read_version(connection, row, version).steps
        return (steps[position - 1] if position else None), version


def _check_scheduled_parameters(
    enabled: bool, declarations: Sequence[ParameterDeclaration]
) -> None:
    """A schedule starts the job without values: every parameter then needs a default."""
    if not enabled:
        return
    for index, declaration in enumerate(declarations):
        if declaration.default is None:
            raise ValidationFailed(
                f"parameters[{index}].default",
                f"parameter '{declaration.name}' has no default, which the schedule of an "
                "enabled job needs (it starts the job without values)",
            )


def _changed(result: tuple[JobStep | None, int]) -> JobStep:
    step = result[0]
    assert step is not None
    return step


def _draft(step: StepFields, name: str) -> StepFields:
    values = step.model_dump(exclude={"step_id", "new_id"})
    values["step_name"] = name
    return StepFields.model_validate(values)


def _dump(drafts: Sequence[StepFields]) -> list[dict[str, Any]]:
    return [draft.model_dump(mode="json") for draft in drafts]


def _name_of(step: StepRef) -> str | None:
    return step if isinstance(step, str) else None


def _find(steps: Sequence[StepFields | JobStep], step: StepRef) -> int | None:
    if isinstance(step, int):
        return step - 1 if 1 <= step <= len(steps) else None
    return next((i for i, s in enumerate(steps) if s.step_name == step), None)


def _require(job_name: str, drafts: Sequence[StepFields], step: StepRef) -> int:
    index = _find(drafts, step)
    if index is None:
        raise NotFound("step", step, f"job '{job_name}' has {len(drafts)} step(s)")
    return index


def _new_step_name(job_name: str, drafts: Sequence[StepFields], name: str | None) -> str:
    if name is None:
        if drafts:
            raise ValidationFailed("step_name", "every step but the first needs a step_name")
        name = DEFAULT_STEP_NAME
    _unique_name(job_name, drafts, name)
    return name


def _unique_name(
    job_name: str, drafts: Sequence[StepFields], name: str, skip: int | None = None
) -> None:
    for index, draft in enumerate(drafts):
        if index != skip and draft.step_name == name:
            raise Conflict(
                "job",
                job_name,
                f"already has a step named '{name}' (step {index + 1})",
                field="step_name",
            )


def _move(drafts: list[StepFields], index: int, new_id: int | None) -> int:
    if new_id is None or new_id == index + 1:
        return index
    if new_id > len(drafts):
        raise ValidationFailed(
            "new_id", f"the job has {len(drafts)} step(s); new_id must be from 1 to {len(drafts)}"
        )
    drafts.insert(new_id - 1, drafts.pop(index))
    return new_id - 1


def _check_references(connection: Connection, draft: StepFields, prefix: str) -> None:
    require_target_group(connection, draft.target_group_name, f"{prefix}target_group_name")
    require_credential(connection, draft.credential_name, f"{prefix}credential_name")
    refuse_identity_on(
        connection,
        draft.credential_name,
        group_engines(connection, draft.target_group_name),
        f"{prefix}credential_name",
    )
    if draft.output is not None:
        require_credential(
            connection, draft.output.credential_name, f"{prefix}output.credential_name"
        )
        refuse_identity_on(
            connection,
            draft.output.credential_name,
            {draft.output.engine.value},
            f"{prefix}output.credential_name",
        )
