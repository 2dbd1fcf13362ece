"""Jobs, their schedules and their versioned steps, with Elastic Jobs' defaults and rules."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from enum import Enum
from typing import Annotated, Any

from croniter import croniter
from pydantic import AfterValidator, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from sqlfleet.engine import Engine
from sqlfleet.models.common import (
    MAX_INT32,
    WHOLE_NUMBER,
    ApiModel,
    Description,
    DocumentModel,
    JobName,
    Name,
    Port,
    ServerName,
    UtcDateTime,
    field_error,
    spelled,
)
from sqlfleet.models.notifications import (
    MAX_RULES_PER_JOB,
    NotificationRule,
    NotificationRuleIn,
)
from sqlfleet.models.parameters import Declarations, ParameterDeclaration, check_declarations
from sqlfleet.timezones import to_utc

# sp_add_job defaults (all times UTC). The end time really is 11:59:59, as documented.
DEFAULT_SCHEDULE_START = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_SCHEDULE_END = dt.datetime(9999, 12, 31, 11, 59, 59, tzinfo=dt.timezone.utc)
# sp_add_jobstep defaults.
DEFAULT_STEP_NAME = "JobStep"
DEFAULT_RETRY_ATTEMPTS = 10
DEFAULT_INITIAL_RETRY_INTERVAL_SECONDS = 1
DEFAULT_MAXIMUM_RETRY_INTERVAL_SECONDS = 120
DEFAULT_RETRY_INTERVAL_BACKOFF_MULTIPLIER = 2.0
DEFAULT_STEP_TIMEOUT_SECONDS = 43_200
# Limits Elastic Jobs leaves undocumented. Retries are bounded because each one adds to a
# durable orchestration history; steps because every version copies all of them.
MAX_RETRY_ATTEMPTS = 1000
MAX_BACKOFF_MULTIPLIER = 100.0
MAX_STEPS_PER_JOB = 200
MAX_COMMAND_LENGTH = 1_048_576
# Default output schema per engine (Elastic Jobs: 'dbo'); mysql has no schemas inside a database.
DEFAULT_OUTPUT_SCHEMA = {
    Engine.SQLSERVER: "dbo",
    Engine.POSTGRESQL: "public",
    Engine.MYSQL: None,
    Engine.SQLITE: "main",
}


class IntervalType(str, Enum):
    ONCE = "once"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


class RetryOn(str, Enum):
    """Which errors of a target are retried: the transient ones (``sqlfleet.errorclasses``;
    errors that cannot pass fail at once), or all of them as in Elastic Jobs."""

    TRANSIENT = "transient"
    ALL = "all"


class OnFailure(str, Enum):
    """What a step's failure does to the rest of the job (beyond Elastic Jobs, which stops)."""

    FAIL = "fail"
    CONTINUE = "continue"


# T-SQL spells interval types 'Once', 'Minutes', ...; PowerShell 'Minute', 'Hour', ...: the API
# takes every spelling the CLI takes.
_INTERVAL_SPELLINGS = {
    spelling: kind.value
    for kind in IntervalType
    for word in dict.fromkeys((kind.value, kind.value.removesuffix("s")))
    for spelling in (word, word.capitalize())
}
_INTERVAL = spelled(IntervalType, _INTERVAL_SPELLINGS)
IntervalTypeSpelled = Annotated[IntervalType, _INTERVAL[0], _INTERVAL[1]]
_ON_FAILURE = spelled(OnFailure, {kind.value.capitalize(): kind.value for kind in OnFailure})
OnFailureSpelled = Annotated[OnFailure, _ON_FAILURE[0], _ON_FAILURE[1]]
_RETRY_ON = spelled(RetryOn, {kind.value.capitalize(): kind.value for kind in RetryOn})
RetryOnSpelled = Annotated[RetryOn, _RETRY_ON[0], _RETRY_ON[1]]


def _bounded(ge: int, le: int) -> Any:
    return Field(strict=True, ge=ge, le=le)


def _check_time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "expected an IANA time zone such as Europe/Paris or America/New_York"
        ) from None
    return value


def _check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not croniter.is_valid(value):
        raise PydanticCustomError(
            "cron",
            "expected a cron expression of five fields (minute hour day-of-month month "
            "day-of-week), such as '30 2 * * 1-5'",
        )
    return " ".join(fields)


_NO_OFFSET = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")
TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=64, strict=True), AfterValidator(_check_time_zone)
]
CronExpression = Annotated[
    str, Field(min_length=9, max_length=256, strict=True), AfterValidator(_check_cron)
]


class Schedule(ApiModel):
    """When a job runs by itself: once, or every ``interval_count`` units in [start, end], or
    at the times of a ``cron`` expression; wall-clock times are in ``time_zone`` (IANA name;
    default UTC). See ``sqlfleet.schedules`` for the rule on DST gaps and overlaps."""

    interval_type: IntervalTypeSpelled = IntervalType.ONCE
    interval_count: Annotated[int, _bounded(1, MAX_INT32), WHOLE_NUMBER] = 1
    start_time: UtcDateTime = DEFAULT_SCHEDULE_START
    end_time: UtcDateTime = DEFAULT_SCHEDULE_END
    time_zone: TimeZoneName | None = None
    cron: CronExpression | None = None

    @model_validator(mode="before")
    @classmethod
    def _local_times(cls, data: Any) -> Any:
        # With a time zone, a start or end time without offset is a wall-clock time there.
        if not isinstance(data, dict) or not isinstance(data.get("time_zone"), str):
            return data
        try:
            where = zoneinfo.ZoneInfo(data["time_zone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return data  # the field's own validator says what is wrong
        local = dict(data)
        for key in ("start_time", "end_time"):
            text = local.get(key)
            if isinstance(text, str) and _NO_OFFSET.fullmatch(text.strip()):
                try:
                    naive = dt.datetime.fromisoformat(text.strip())
                except ValueError:
                    continue
                local[key] = to_utc(naive, where).isoformat().replace("+00:00", "Z")
        return local

    @model_validator(mode="after")
    def _end_after_start(self) -> Schedule:
        if self.end_time <= self.start_time:
            raise field_error("end_time", "end_time must be later than start_time")
        if self.cron is not None and (
            self.interval_type != IntervalType.ONCE or self.interval_count != 1
        ):
            raise field_error(
                "cron",
                "a cron expression replaces interval_type and interval_count; leave them out",
            )
        return self


class OutputDestination(ApiModel):
    """Where a step's first result set goes: a table (created if missing) on a database."""

    engine: Engine = Engine.SQLSERVER
    server_name: ServerName
    port: Port | None = None
    database_name: Name
    schema_name: Name | None = None
    table_name: Name
    credential_name: Name | None = None
    # Which result set of the script (0-based) goes to the table; None: the first.
    result_set: Annotated[int, _bounded(0, 99), WHOLE_NUMBER] | None = None

    @model_validator(mode="after")
    def _engine_rules(self) -> OutputDestination:
        if self.engine == Engine.SQLITE and self.port is not None:
            raise field_error("port", "sqlite destinations have no port")
        if self.engine == Engine.MYSQL and self.schema_name not in (None, self.database_name):
            raise field_error("schema_name", "mysql has no schemas; leave schema_name out")
        if self.schema_name is None:
            # Frozen model: the resolved default is written once, here, at validation.
            object.__setattr__(self, "schema_name", DEFAULT_OUTPUT_SCHEMA[self.engine])
        return self


RetryAttempts = Annotated[int, _bounded(0, MAX_RETRY_ATTEMPTS), WHOLE_NUMBER]
Seconds = Annotated[int, _bounded(1, MAX_INT32), WHOLE_NUMBER]
Multiplier = Annotated[
    float, Field(strict=True, ge=1.0, le=MAX_BACKOFF_MULTIPLIER, allow_inf_nan=False)
]
Parallelism = Annotated[int, _bounded(1, MAX_INT32), WHOLE_NUMBER]
StepPosition = Annotated[int, _bounded(1, MAX_STEPS_PER_JOB), WHOLE_NUMBER]


def _check_command(value: str) -> str:
    # ODBC drivers end a statement at NUL, and PostgreSQL cannot store one: the script would
    # silently be cut short.
    if "\x00" in value:
        raise PydanticCustomError("command_nul", "a command cannot contain the NUL character")
    return value


Command = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_COMMAND_LENGTH,
        strict=True,
        json_schema_extra={"pattern": "^[^\\u0000]*$"},
    ),
    AfterValidator(_check_command),
]


class StepFields(ApiModel):
    """Every setting of a step except its position, with sp_add_jobstep's defaults."""

    step_name: Name | None = None
    command: Command
    credential_name: Name | None = None
    target_group_name: Name
    retry_attempts: RetryAttempts = DEFAULT_RETRY_ATTEMPTS
    initial_retry_interval_seconds: Seconds = DEFAULT_INITIAL_RETRY_INTERVAL_SECONDS
    maximum_retry_interval_seconds: Seconds = DEFAULT_MAXIMUM_RETRY_INTERVAL_SECONDS
    retry_interval_backoff_multiplier: Multiplier = DEFAULT_RETRY_INTERVAL_BACKOFF_MULTIPLIER
    step_timeout_seconds: Seconds = DEFAULT_STEP_TIMEOUT_SECONDS
    max_parallelism: Parallelism | None = None
    on_failure: OnFailureSpelled = OnFailure.FAIL
    retry_on: RetryOnSpelled = RetryOn.TRANSIENT
    output: OutputDestination | None = None

    @model_validator(mode="after")
    def _step_rules(self) -> StepFields:
        if not self.command.strip():
            raise field_error("command", "command is empty; give the SQL to run")
        if self.maximum_retry_interval_seconds < self.initial_retry_interval_seconds:
            raise field_error(
                "maximum_retry_interval_seconds",
                "must be at least initial_retry_interval_seconds",
            )
        return self


class StepIn(StepFields):
    """A step as clients send it. ``step_id`` (POST) inserts at that position, shifting later
    steps; without it the step is appended. ``new_id`` (PUT) moves the step."""

    step_id: StepPosition | None = None
    new_id: StepPosition | None = None


class StepAdd(StepFields):
    """A new step (POST /api/jobs/{name}/steps): appended, or inserted at ``step_id`` shifting
    later steps."""

    step_id: StepPosition | None = None

    def as_step(self) -> StepIn:
        """The same step as the store takes it."""
        return StepIn.model_validate(self.model_dump(exclude_unset=True))


def _leave_out_to_keep(schema: dict[str, Any]) -> None:
    # Documented as the type alone: null is refused (leave the field out to keep it).
    schema.pop("default", None)


Keep = Field(default=None, json_schema_extra=_leave_out_to_keep)


class StepPatch(ApiModel):
    """A partial step update (sp_update_jobstep): only the fields sent change; ``null`` resets
    ``max_parallelism``, ``credential_name`` and ``output``; ``new_id`` moves the step."""

    new_id: StepPosition | SkipJsonSchema[None] = Keep
    new_name: Name | SkipJsonSchema[None] = Keep
    command: Command | SkipJsonSchema[None] = Keep
    credential_name: Name | None = None
    target_group_name: Name | SkipJsonSchema[None] = Keep
    retry_attempts: RetryAttempts | SkipJsonSchema[None] = Keep
    initial_retry_interval_seconds: Seconds | SkipJsonSchema[None] = Keep
    maximum_retry_interval_seconds: Seconds | SkipJsonSchema[None] = Keep
    retry_interval_backoff_multiplier: Multiplier | SkipJsonSchema[None] = Keep
    step_timeout_seconds: Seconds | SkipJsonSchema[None] = Keep
    max_parallelism: Parallelism | None = None
    on_failure: OnFailureSpelled | SkipJsonSchema[None] = Keep
    retry_on: RetryOnSpelled | SkipJsonSchema[None] = Keep
    output: OutputDestination | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> StepPatch:
        for name in self.model_fields_set:
            nullable = name in ("max_parallelism", "credential_name", "output")
            if getattr(self, name) is None and not nullable:
                raise field_error(name, f"{name} cannot be null; leave it out to keep it")
        return self


class JobIn(ApiModel):
    """A job as clients send it (PUT /api/jobs/{name}). ``steps``, when given, replace the
    current steps (a new version if they differ); when left out, steps are kept."""

    name: JobName | None = None
    description: Description = ""
    enabled: Annotated[bool, Field(strict=True)] = False
    schedule: Schedule = Schedule()
    steps: Annotated[list[StepIn], Field(max_length=MAX_STEPS_PER_JOB)] | None = None
    # Declared parameters; when left out, the current ones are kept.
    parameters: Declarations | None = None
    # When given, they replace the job's notification rules (not versioned: the rules in force
    # when an execution ends apply); when left out, the rules are kept.
    notifications: (
        Annotated[list[NotificationRuleIn], Field(max_length=MAX_RULES_PER_JOB)] | None
    ) = None

    @model_validator(mode="after")
    def _step_list_rules(self) -> JobIn:
        check_declarations(self.parameters or [])
        rules: dict[str, int] = {}
        for index, rule in enumerate(self.notifications or []):
            if rule.name in rules:
                raise field_error(
                    f"notifications[{index}].name",
                    f"repeats the name of notifications[{rules[rule.name]}]",
                )
            rules[rule.name] = index
        names: dict[str, int] = {}
        for index, step in enumerate(self.steps or []):
            if step.step_id is not None and step.step_id != index + 1:
                raise field_error(
                    f"steps[{index}].step_id",
                    f"is {step.step_id} but the step is number {index + 1} in the list; "
                    "leave step_id out",
                )
            if step.new_id is not None:
                raise field_error(f"steps[{index}].new_id", "order steps by their list position")
            if step.step_name is None and index > 0:
                raise field_error(
                    f"steps[{index}].step_name", "every step but the first needs a step_name"
                )
            name = step.step_name or DEFAULT_STEP_NAME
            if name in names:
                raise field_error(
                    f"steps[{index}].step_name", f"repeats the name of steps[{names[name]}]"
                )
            names[name] = index
        return self


class JobStep(DocumentModel):
    """One step of one version of a job."""

    job_name: str
    job_version: int
    step_id: int
    step_name: str
    command: str
    credential_name: str | None
    target_group_name: str
    retry_attempts: int
    initial_retry_interval_seconds: int
    maximum_retry_interval_seconds: int
    retry_interval_backoff_multiplier: float
    step_timeout_seconds: int
    max_parallelism: int | None
    on_failure: OnFailure
    output: OutputDestination | None
    retry_on: RetryOn = RetryOn.TRANSIENT

    def settings(self) -> dict[str, Any]:
        """The step's content (what a version compares), without name, job or position."""
        return self.model_dump(exclude={"job_name", "job_version", "step_id", "step_name"})


class Job(DocumentModel):
    name: str
    job_id: str
    description: str
    enabled: bool
    schedule: Schedule
    job_version: int
    steps: list[JobStep]
    created_time: dt.datetime
    modified_time: dt.datetime
    notifications: list[NotificationRule] = []
    parameters: list[ParameterDeclaration] = []
    # When the schedule runs it next (None: disabled, once and past, or ended); filled by the API.
    next_run_time: dt.datetime | None = None


class JobVersionSummary(DocumentModel):
    job_name: str
    job_id: str
    job_version: int
    created_time: dt.datetime
    step_count: int


class JobVersion(JobVersionSummary):
    steps: list[JobStep]
