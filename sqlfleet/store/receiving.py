"""PowerShell's Receive-Job and Get-Job's summary columns (part of ``SqlJobStore``).

``receive_target_outputs`` answers the output of ended targets not received yet and marks it
received (``job_executions.received_time``), in one transaction: two receivers never get the
same output. ``execution_summaries`` answers, for a page of executions, whether output is left
to receive (``has_more_data``), the first line of each step's command (``command``) and the
servers their targets are on (``location``), in three statements whatever the page's size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa

from sqlfleet.models.executions import OutputPage
from sqlfleet.store.database import Database
from sqlfleet.store.pages import DEFAULT_OUTPUT_PAGE, MAX_OUTPUT_PAGE, check_top, target_outputs
from sqlfleet.store.rows import execution_row, uuid_text
from sqlfleet.store.tables import job_executions, job_steps

E = job_executions
MAX_LOCATIONS = 20  # servers named per execution (the rest counted)
MAX_COMMAND_LINE = 120


@dataclasses.dataclass(frozen=True)
class ExecutionSummary:
    has_more_data: bool
    command: list[str]
    location: list[str]


class ReceiveStore:
    """Receive-Job: output handed out once."""

    _db: Database

    def receive_target_outputs(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        top: int = DEFAULT_OUTPUT_PAGE,
    ) -> OutputPage:
        """The outputs of up to ``top`` ended targets not received yet, in (step, ordinal)
        order, now marked received; ``has_more_data`` says whether any output is left (ended
        targets beyond this page, or targets still running). Raises ``NotFound``,
        ``BadRequest`` (``top``)."""
        check_top(top, MAX_OUTPUT_PAGE)
        now = self._clock()  # type: ignore[attr-defined]
        execution = uuid_text(job_execution_id)
        with self._db.write("job execution", job_execution_id) as connection:
            job = execution_row(connection, job_execution_id)
            mine = [E.c.job_execution_id == execution, E.c.target_ordinal.is_not(None)]
            if step_id is not None:
                mine.append(E.c.step_id == step_id)
            unreceived = [*mine, E.c.received_time.is_(None)]
            rows = list(
                connection.execute(
                    sa.select(E)
                    .where(*unreceived, E.c.is_active.is_(False))
                    .order_by(E.c.step_id, E.c.target_ordinal)
                    .limit(top)
                ).mappings()
            )
            items = [
                item.model_copy(
                    update={"target": item.target.model_copy(update={"received_time": now})}
                )
                for item in target_outputs(connection, rows)
            ]
            ids = [row["row_id"] for row in rows]
            if ids:
                connection.execute(
                    sa.update(E).where(E.c.row_id.in_(ids)).values(received_time=now)
                )
            left = connection.execute(
                sa.select(sa.func.count()).select_from(E).where(*unreceived)
            ).scalar_one()
        more = bool(left) or (bool(job["is_active"]) and step_id is None)
        return OutputPage(items=items, continuation=None, has_more_data=more)

    def execution_summaries(
        self, executions: Sequence[tuple[str, str, int, bool]]
    ) -> dict[str, ExecutionSummary]:
        """For ``(job_execution_id, job_id, job_version, is_active)`` of each execution: its
        ``ExecutionSummary``."""
        if not executions:
            return {}
        ids = [uuid_text(e[0]) for e in executions]
        with self._db.read() as connection:
            unreceived: dict[str, int] = dict(
                connection.execute(
                    sa.select(E.c.job_execution_id, sa.func.count())
                    .where(
                        E.c.job_execution_id.in_(ids),
                        E.c.target_ordinal.is_not(None),
                        E.c.received_time.is_(None),
                    )
                    .group_by(E.c.job_execution_id)
                ).all()
            )
            servers: dict[str, list[str]] = {}
            for execution_id, server in connection.execute(
                sa.select(E.c.job_execution_id, E.c.target_server_name)
                .where(E.c.job_execution_id.in_(ids), E.c.target_ordinal.is_not(None))
                .distinct()
                .order_by(E.c.job_execution_id, E.c.target_server_name)
            ).all():
                servers.setdefault(str(execution_id), []).append(str(server or ""))
            versions = {(e[1], e[2]) for e in executions}
            commands: dict[tuple[str, int], list[str]] = {}
            for job_id, version, command in connection.execute(
                sa.select(job_steps.c.job_id, job_steps.c.job_version, job_steps.c.command)
                .where(job_steps.c.job_id.in_(sorted({v[0] for v in versions})))
                .order_by(job_steps.c.job_id, job_steps.c.job_version, job_steps.c.step_id)
            ).all():
                if (str(job_id), version) in versions:
                    commands.setdefault((str(job_id), version), []).append(_first_line(command))
        answer = {}
        for (execution_id, job_id, version, active), key in zip(executions, ids, strict=True):
            located = servers.get(key, [])
            if len(located) > MAX_LOCATIONS:
                located = [*located[:MAX_LOCATIONS], f"... {len(located) - MAX_LOCATIONS} more"]
            answer[execution_id] = ExecutionSummary(
                has_more_data=bool(unreceived.get(key)) or active,
                command=commands.get((job_id, version), []),
                location=located,
            )
        return answer


def _first_line(command: str) -> str:
    line = next((text.strip() for text in command.splitlines() if text.strip()), "")
    return line if len(line) <= MAX_COMMAND_LINE else line[: MAX_COMMAND_LINE - 3] + "..."
