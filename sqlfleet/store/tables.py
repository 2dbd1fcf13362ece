"""The job database's tables (SQLAlchemy Core). Migrations in ``sqlfleet/migrations`` build them.

Types are chosen to compile well for SQLite, PostgreSQL and SQL Server alike: names are
``NVARCHAR(128)`` on SQL Server (Elastic Jobs' sizes), ids ``UNIQUEIDENTIFIER`` / ``UUID``,
times ``DATETIME2(7)`` / ``TIMESTAMP`` holding UTC (year 1 to 9999: Elastic Jobs' schedule bounds).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect

NAME = 128
DESCRIPTION = 512
SERVER = 256


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC datetime in, an aware UTC datetime out; stored without offset.

    Naive datetimes are refused: every time in SQL Fleet is UTC, and saying so is the caller's job.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mssql":
            return dialect.type_descriptor(mssql.DATETIME2(precision=7))  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: SQL Fleet stores UTC times only")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite returns text for raw SQL reads
            value = dt.datetime.fromisoformat(value)
        moment: dt.datetime = value.replace(tzinfo=dt.timezone.utc)
        return moment


def Id() -> sa.Uuid[str]:  # noqa: N802 - reads as a type in the column lists
    return sa.Uuid(as_uuid=False)


def LongText() -> sa.types.TypeEngine[str]:  # noqa: N802
    # NVARCHAR(max) on SQL Server whatever the server version (NTEXT is deprecated).
    return sa.UnicodeText().with_variant(sa.Unicode(), "mssql")


def AsciiText() -> sa.types.TypeEngine[str]:  # noqa: N802
    return sa.Text().with_variant(sa.String(), "mssql")


def RowId() -> sa.types.TypeEngine[int]:  # noqa: N802
    # SQLite only auto-increments INTEGER PRIMARY KEY, not BIGINT.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("credential_id", Id(), primary_key=True),
    sa.Column("name", sa.Unicode(NAME), nullable=False, unique=True),
    sa.Column("kind", sa.Unicode(32), nullable=False),
    sa.Column("username", sa.Unicode(NAME)),
    sa.Column("secret_ciphertext", AsciiText()),
    sa.Column("secret_uri", sa.Unicode(2048)),
    sa.Column("client_id", Id()),
    sa.Column("description", sa.Unicode(DESCRIPTION), nullable=False),
    sa.Column("created_time", UtcDateTime(), nullable=False),
    sa.Column("modified_time", UtcDateTime(), nullable=False),
)

target_groups = sa.Table(
    "target_groups",
    metadata,
    sa.Column("target_group_id", Id(), primary_key=True),
    sa.Column("name", sa.Unicode(NAME), nullable=False, unique=True),
    sa.Column("description", sa.Unicode(DESCRIPTION), nullable=False),
    sa.Column("created_time", UtcDateTime(), nullable=False),
    sa.Column("modified_time", UtcDateTime(), nullable=False),
)

target_group_members = sa.Table(
    "target_group_members",
    metadata,
    sa.Column("target_id", Id(), primary_key=True),
    sa.Column(
        "target_group_id",
        Id(),
        sa.ForeignKey(target_groups.c.target_group_id, ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("membership_type", sa.Unicode(16), nullable=False),
    sa.Column("target_type", sa.Unicode(32), nullable=False),
    sa.Column("engine", sa.Unicode(16), nullable=False),
    sa.Column("server_name", sa.Unicode(SERVER), nullable=False),
    sa.Column("port", sa.Integer()),
    sa.Column("database_name", sa.Unicode(NAME)),
    sa.Column("elastic_pool_name", sa.Unicode(NAME)),
    sa.Column("refresh_credential_name", sa.Unicode(NAME), index=True),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", Id(), primary_key=True),
    sa.Column("name", sa.Unicode(NAME), nullable=False, unique=True),
    sa.Column("description", sa.Unicode(DESCRIPTION), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("schedule_interval_type", sa.Unicode(50), nullable=False),
    sa.Column("schedule_interval_count", sa.Integer(), nullable=False),
    sa.Column("schedule_start_time", UtcDateTime(), nullable=False),
    sa.Column("schedule_end_time", UtcDateTime(), nullable=False),
    sa.Column("job_version", sa.Integer(), nullable=False),
    sa.Column("created_time", UtcDateTime(), nullable=False),
    sa.Column("modified_time", UtcDateTime(), nullable=False),
    # IANA zone of the schedule's wall-clock times (None: UTC), or a cron expression instead of
    # an interval.
    sa.Column("schedule_time_zone", sa.Unicode(64)),
    sa.Column("schedule_cron", sa.Unicode(256)),
    # The declared parameters (JSON list of sqlfleet.models.parameters.ParameterDeclaration).
    sa.Column("parameters_json", LongText()),
    # 'job', or 'run': the hidden job of an ad hoc run (POST /api/runs), never listed.
    sa.Column("kind", sa.Unicode(16), nullable=False, server_default="job"),
)

job_versions = sa.Table(
    "job_versions",
    metadata,
    sa.Column("job_id", Id(), sa.ForeignKey(jobs.c.job_id, ondelete="CASCADE"), primary_key=True),
    sa.Column("job_version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("created_time", UtcDateTime(), nullable=False),
)

job_steps = sa.Table(
    "job_steps",
    metadata,
    sa.Column("job_id", Id(), primary_key=True),
    sa.Column("job_version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("step_id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("step_name", sa.Unicode(NAME), nullable=False),
    sa.Column("command_type", sa.Unicode(50), nullable=False),
    sa.Column("command", LongText(), nullable=False),
    sa.Column("credential_name", sa.Unicode(NAME), index=True),
    sa.Column("target_group_name", sa.Unicode(NAME), nullable=False, index=True),
    sa.Column("initial_retry_interval_seconds", sa.Integer(), nullable=False),
    sa.Column("maximum_retry_interval_seconds", sa.Integer(), nullable=False),
    sa.Column("retry_interval_backoff_multiplier", sa.Float(), nullable=False),
    sa.Column("retry_attempts", sa.Integer(), nullable=False),
    sa.Column("step_timeout_seconds", sa.Integer(), nullable=False),
    sa.Column("max_parallelism", sa.Integer()),
    sa.Column("on_failure", sa.Unicode(16), nullable=False),
    # Which errors are retried: 'transient' ones (sqlfleet.errorclasses) or 'all'.
    sa.Column("retry_on", sa.Unicode(16), nullable=False, server_default="transient"),
    sa.Column("output_type", sa.Unicode(11)),
    sa.Column("output_engine", sa.Unicode(16)),
    sa.Column("output_server_name", sa.Unicode(SERVER)),
    sa.Column("output_port", sa.Integer()),
    sa.Column("output_database_name", sa.Unicode(NAME)),
    sa.Column("output_schema_name", sa.Unicode(NAME)),
    sa.Column("output_table_name", sa.Unicode(NAME)),
    sa.Column("output_credential_name", sa.Unicode(NAME), index=True),
    # The result set (0-based) the output table takes; None: the first.
    sa.Column("output_result_set", sa.Integer()),
    sa.ForeignKeyConstraint(
        ["job_id", "job_version"],
        [job_versions.c.job_id, job_versions.c.job_version],
        ondelete="CASCADE",
    ),
    sa.UniqueConstraint("job_id", "job_version", "step_name"),
)

# One table for job, step and target rows, as Elastic Jobs' jobs.job_executions view.
job_executions = sa.Table(
    "job_executions",
    metadata,
    sa.Column("row_id", RowId(), primary_key=True, autoincrement=True),
    sa.Column("job_execution_id", Id(), nullable=False),
    sa.Column("job_name", sa.Unicode(NAME), nullable=False),
    sa.Column("job_id", Id(), nullable=False),
    sa.Column("job_version", sa.Integer(), nullable=False),
    sa.Column("step_id", sa.Integer()),
    sa.Column("step_name", sa.Unicode(NAME)),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("lifecycle", sa.Unicode(50), nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False, index=True),
    sa.Column("start_time", UtcDateTime()),
    sa.Column("end_time", UtcDateTime()),
    sa.Column("current_attempts", sa.Integer(), nullable=False),
    sa.Column("current_attempt_start_time", UtcDateTime()),
    sa.Column("next_attempt_start_time", UtcDateTime()),
    sa.Column("last_message", LongText()),
    sa.Column("target_type", sa.Unicode(NAME)),
    sa.Column("target_id", Id()),
    sa.Column("target_group_name", sa.Unicode(NAME)),
    sa.Column("target_server_name", sa.Unicode(SERVER)),
    sa.Column("target_database_name", sa.Unicode(NAME)),
    # SQL Fleet extras.
    sa.Column("instance_id", sa.Unicode(256)),
    sa.Column("target_ordinal", sa.Integer()),
    sa.Column("target_engine", sa.Unicode(16)),
    sa.Column("target_port", sa.Integer()),
    sa.Column("target_elastic_pool_name", sa.Unicode(NAME)),
    sa.Column("max_attempts", sa.Integer()),
    sa.Column("cancel_requested_time", UtcDateTime()),
    # On a job row: the execution this one reruns the chosen targets of (``rerun_targets``).
    sa.Column("rerun_of_job_execution_id", Id(), index=True),
    # On a job row: the parameter values it runs with (secret ones encrypted), JSON.
    sa.Column("parameters_json", LongText()),
    # On a target row: when receive (POST /api/executions/{id}/receive) last returned its output.
    sa.Column("received_time", UtcDateTime()),
    # NULL step_id marks the job row and NULL target_ordinal a step row, as in Elastic Jobs; the
    # key makes target creation idempotent (activities run at least once).
    sa.UniqueConstraint("job_execution_id", "step_id", "target_ordinal"),
    sa.Index("ix_job_executions_job_id_is_active", "job_id", "is_active"),
    sa.Index(
        "ix_job_executions_target_activity",
        "job_id",
        "step_id",
        "target_server_name",
        "target_database_name",
        "is_active",
    ),
    # Job rows are those with a NULL step_id: lists and their counts read only them.
    sa.Index("ix_job_executions_step_id_create_time", "step_id", "create_time"),
)

target_results = sa.Table(
    "target_results",
    metadata,
    sa.Column(
        "row_id",
        RowId(),
        sa.ForeignKey(job_executions.c.row_id, ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("columns_json", LongText(), nullable=False),
    sa.Column("rows_json", LongText(), nullable=False),
    sa.Column("row_count", sa.Integer(), nullable=False),
    sa.Column("truncated", sa.Boolean(), nullable=False),
    sa.Column("recorded_time", UtcDateTime(), nullable=False),
)

# Everything else a target's last attempt produced (sqlfleet.models.executions.TargetDetail):
# result sets after the first, row counts, messages with severity/state/number/line, its error.
target_outcomes = sa.Table(
    "target_outcomes",
    metadata,
    sa.Column(
        "row_id",
        RowId(),
        sa.ForeignKey(job_executions.c.row_id, ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("document", LongText(), nullable=False),
    sa.Column("recorded_time", UtcDateTime(), nullable=False),
)

target_messages = sa.Table(
    "target_messages",
    metadata,
    sa.Column("message_id", RowId(), primary_key=True, autoincrement=True),
    sa.Column(
        "row_id",
        RowId(),
        sa.ForeignKey(job_executions.c.row_id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("sequence", sa.Integer(), nullable=False),
    sa.Column("message", LongText(), nullable=False),
    sa.Column("recorded_time", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("row_id", "attempt", "sequence"),
)

# The databases a rerun runs on: each step of the rerun runs on those its target group expands to.
rerun_targets = sa.Table(
    "rerun_targets",
    metadata,
    sa.Column("job_execution_id", Id(), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("target_engine", sa.Unicode(16), nullable=False),
    sa.Column("target_server_name", sa.Unicode(SERVER), nullable=False),
    sa.Column("target_port", sa.Integer()),
    sa.Column("target_database_name", sa.Unicode(NAME)),
)

# The attempts of a target that ended in a retry; its current (or last) attempt is its own row.
target_attempts = sa.Table(
    "target_attempts",
    metadata,
    sa.Column(
        "row_id",
        RowId(),
        sa.ForeignKey(job_executions.c.row_id, ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("attempt", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("start_time", UtcDateTime()),
    sa.Column("end_time", UtcDateTime(), nullable=False),
    sa.Column("message", LongText()),
)

# A job's notification rules, in order (sqlfleet.models.notifications); not versioned.
job_notifications = sa.Table(
    "job_notifications",
    metadata,
    sa.Column(
        "job_id",
        Id(),
        sa.ForeignKey(jobs.c.job_id, ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("name", sa.Unicode(NAME), nullable=False),
    sa.Column("document", LongText(), nullable=False),
)

# One notification of one ended execution through one rule (the rule as it was then).
notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("delivery_id", Id(), primary_key=True),
    sa.Column("job_execution_id", Id(), nullable=False, index=True),
    sa.Column("job_name", sa.Unicode(NAME), nullable=False),
    sa.Column("rule_name", sa.Unicode(NAME), nullable=False),
    sa.Column("channel", sa.Unicode(16), nullable=False),
    sa.Column("destination", LongText(), nullable=False),
    sa.Column("rule", LongText(), nullable=False),
    sa.Column("lifecycle", sa.Unicode(32), nullable=False),
    sa.Column("status", sa.Unicode(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("last_status_code", sa.Integer()),
    sa.Column("last_error", LongText()),
    sa.Column("next_attempt_time", UtcDateTime()),
    sa.Column("created_time", UtcDateTime(), nullable=False),
    sa.Column("delivered_time", UtcDateTime()),
)
