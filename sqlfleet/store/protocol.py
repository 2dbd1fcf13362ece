"""The job store interface. ``SqlJobStore`` is its implementation (the only SQLAlchemy user).

Every method is one transaction: it either does everything or nothing. Names are compared
exactly. Errors are from ``sqlfleet.errors``: ``NotFound``, ``Conflict`` (and ``InUse``,
``ActiveExecutions``, ``IllegalTransition``, ``ConcurrentChange``), ``ValidationFailed`` for
references to objects that do not exist, ``JobDatabaseUnavailable``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import (
    Credential,
    CredentialRecord,
    ExecutionPage,
    ExecutionRow,
    Job,
    JobExecution,
    JobIn,
    JobStep,
    JobVersion,
    JobVersionSummary,
    Member,
    MemberIn,
    ResultSet,
    StepIn,
    StepPatch,
    TargetExecution,
    TargetGroup,
    TargetGroupIn,
    TargetOutput,
    TargetSpec,
)
from sqlfleet.models.executions import OutputPage, TargetDetail, TargetPage, TargetProgress
from sqlfleet.models.jobs import OnFailure
from sqlfleet.models.monitoring import LifecycleCodes, Timeline
from sqlfleet.models.notifications import Delivery, NotificationRule, NotificationRuleIn

if TYPE_CHECKING:
    from sqlfleet.store.attempts import AttemptStart
    from sqlfleet.store.chunks import AttemptEnd, ChunkTurn
    from sqlfleet.store.endings import FinishedStep
    from sqlfleet.store.receiving import ExecutionSummary

StepRef = int | str


class JobStore(Protocol):
    def now(self) -> dt.datetime:
        """The store's clock (UTC-aware): the time it stamps on what it writes. Code that
        decides a time the store will keep (a retry's start) reads it here."""
        ...

    # Credentials
    def list_credentials(self) -> list[Credential]: ...
    def get_credential(self, name: str) -> Credential: ...
    def get_credential_record(self, name: str) -> CredentialRecord: ...
    def put_credential(self, record: CredentialRecord) -> tuple[Credential, bool]: ...
    def delete_credential(self, name: str) -> None: ...

    # Target groups and members
    def list_target_groups(self) -> list[TargetGroup]: ...
    def get_target_group(self, name: str) -> TargetGroup: ...
    def put_target_group(self, name: str, document: TargetGroupIn) -> tuple[TargetGroup, bool]: ...
    def delete_target_group(self, name: str) -> None: ...
    def list_members(self, group_name: str) -> list[Member]: ...
    def get_member(self, group_name: str, target_id: str) -> Member: ...
    def add_member(self, group_name: str, document: MemberIn) -> Member: ...
    def put_member(
        self, group_name: str, target_id: str, document: MemberIn
    ) -> tuple[Member, bool]: ...
    def delete_member(self, group_name: str, target_id: str) -> None: ...

    # Jobs, steps, versions
    def list_jobs(self) -> list[Job]: ...
    def get_job(self, name: str) -> Job: ...
    def put_job(self, name: str, document: JobIn, *, kind: str = ...) -> tuple[Job, bool]: ...
    def delete_job(self, name: str, *, force: bool = False) -> list[str]: ...
    def list_steps(self, job_name: str, version: int | None = None) -> list[JobStep]: ...
    def get_step(self, job_name: str, step: StepRef, version: int | None = None) -> JobStep: ...
    def add_step(self, job_name: str, document: StepIn) -> JobStep: ...
    def put_step(self, job_name: str, step: StepRef, document: StepIn) -> tuple[JobStep, bool]: ...
    def update_step(self, job_name: str, step: StepRef, patch: StepPatch) -> JobStep: ...
    def delete_step(self, job_name: str, step: StepRef) -> int: ...
    def list_job_versions(self, job_name: str) -> list[JobVersionSummary]: ...
    def get_job_version(self, job_name: str, version: int | None = None) -> JobVersion: ...

    # Executions: writes (activities)
    def create_job_execution(
        self,
        job_name: str,
        *,
        job_execution_id: str | None = None,
        instance_id: str | None = None,
        parameters_json: str | None = None,
        job_version: int | None = None,
    ) -> JobExecution: ...
    def get_execution_parameters(self, job_execution_id: str) -> str | None: ...
    def create_target_rows(
        self, job_execution_id: str, step_id: int, targets: Sequence[TargetSpec]
    ) -> int: ...
    def begin_step(
        self, job_execution_id: str, step_id: int, targets: Sequence[TargetSpec]
    ) -> int: ...
    def transition(
        self,
        job_execution_id: str,
        lifecycle: Lifecycle,
        *,
        step_id: int | None = None,
        ordinal: int | None = None,
        message: str | None = None,
        next_attempt_start_time: dt.datetime | None = None,
    ) -> ExecutionRow: ...
    def finish_job_execution(
        self, job_execution_id: str, *, message: str | None = None
    ) -> JobExecution: ...
    def request_cancel(self, job_execution_id: str) -> JobExecution: ...
    def end_job_execution(
        self, job_execution_id: str, lifecycle: Lifecycle, message: str
    ) -> JobExecution: ...
    def cancel_targets(
        self,
        job_execution_id: str,
        step_id: int,
        ordinals: Iterable[int],
        *,
        message: str = "canceled",
    ) -> int: ...

    # One target attempt in two transactions (what run_target needs; see store/attempts.py)
    def start_target_attempt(
        self, job_execution_id: str, step_id: int, ordinal: int, attempt: int
    ) -> AttemptStart: ...
    def finish_target_attempt(
        self,
        job_execution_id: str,
        step_id: int,
        ordinal: int,
        attempt: int,
        lifecycle: Lifecycle,
        *,
        message: str | None = None,
        result: ResultSet | None = None,
        messages: Sequence[str] = (),
        next_attempt_start_time: dt.datetime | None = None,
        detail: TargetDetail | None = None,
    ) -> TargetExecution: ...

    # A step's end, and the execution's with it, in one transaction (what finish_step needs;
    # store/endings.py)
    def finish_step(
        self,
        job_execution_id: str,
        step_id: int,
        *,
        error: str | None = None,
        last: bool = False,
        execution_message: str | None = None,
        on_failure: OnFailure | None = None,
    ) -> FinishedStep: ...

    # First attempts of a chunk of targets, in turns (what run_targets needs; store/chunks.py)
    def turn_target_chunk(
        self,
        job_execution_id: str,
        step_id: int,
        ended: Sequence[AttemptEnd],
        start: Sequence[int],
    ) -> ChunkTurn: ...

    # Executions: reads and purge
    def get_job_execution(
        self,
        job_execution_id: str,
        *,
        lifecycle: Lifecycle | None = None,
        include_targets: bool = True,
    ) -> JobExecution: ...
    def execution_is_active(self, job_execution_id: str) -> bool: ...
    def get_target_execution(
        self, job_execution_id: str, step_id: int, ordinal: int
    ) -> TargetExecution: ...
    def list_target_executions(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        lifecycle: Lifecycle | None = None,
        active: bool | None = None,
    ) -> list[TargetExecution]: ...
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
        top: int = 100,
        continuation: str | None = None,
    ) -> ExecutionPage: ...
    def get_target_output(
        self, job_execution_id: str, step_id: int, ordinal: int
    ) -> TargetOutput: ...
    def page_target_executions(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        lifecycle: Lifecycle | None = None,
        top: int = ...,
        continuation: str | None = None,
    ) -> TargetPage: ...
    def page_target_executions_json(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        lifecycle: Lifecycle | None = None,
        top: int = ...,
        continuation: str | None = None,
    ) -> bytes: ...
    def page_target_outputs(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        lifecycle: Lifecycle | None = None,
        top: int = ...,
        continuation: str | None = None,
    ) -> OutputPage: ...
    def receive_target_outputs(
        self, job_execution_id: str, *, step_id: int | None = None, top: int = ...
    ) -> OutputPage: ...
    def execution_summaries(
        self, executions: Sequence[tuple[str, str, int, bool]]
    ) -> dict[str, ExecutionSummary]: ...
    def get_execution_version(self, job_execution_id: str) -> JobVersion: ...
    def purge_history(self, oldest: dt.datetime, *, job_name: str | None = None) -> list[str]: ...
    def purge_execution(self, job_execution_id: str) -> None: ...

    # Watching executions (store/monitoring.py): compact, bounded reads
    def target_progress(self, job_execution_id: str) -> dict[int, TargetProgress]: ...
    def target_lifecycles(
        self, job_execution_id: str, step_id: int, *, start: int = 0, count: int = ...
    ) -> LifecycleCodes: ...
    def target_timeline(
        self, job_execution_id: str, step_id: int, *, start: int = 0, count: int = ...
    ) -> Timeline: ...
    def count_job_executions(
        self,
        *,
        job_name: str | None = None,
        create_time_min: dt.datetime | None = None,
        create_time_max: dt.datetime | None = None,
    ) -> dict[str, int]: ...
    def list_reruns(self, job_execution_id: str) -> list[str]: ...

    # Reruns (store/reruns.py)
    def create_rerun(
        self,
        job_execution_id: str,
        lifecycles: Sequence[Lifecycle],
        *,
        rerun_id: str | None = None,
        instance_id: str | None = None,
    ) -> JobExecution: ...
    def keep_rerun_targets(
        self, job_execution_id: str, targets: Sequence[TargetSpec]
    ) -> list[TargetSpec]: ...

    # Notifications (store/notifications.py)
    def get_notification_rules(self, job_name: str) -> list[NotificationRule]: ...
    def put_notification_rules(
        self, job_name: str, rules: Sequence[NotificationRuleIn]
    ) -> list[NotificationRule]: ...
    def plan_deliveries(self, job_execution_id: str) -> list[Delivery]: ...
    def get_delivery(self, delivery_id: str) -> tuple[Delivery, NotificationRule]: ...
    def record_delivery_attempt(
        self,
        delivery_id: str,
        attempt: int,
        *,
        delivered: bool,
        status_code: int | None = None,
        error: str | None = None,
        next_attempt_time: dt.datetime | None = None,
    ) -> Delivery: ...
    def list_deliveries(self, job_execution_id: str) -> list[Delivery]: ...

    def close(self) -> None: ...
