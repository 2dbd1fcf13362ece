"""The job database: definitions (credentials, target groups, jobs, versioned steps) and history.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlfleet.store.tables import AsciiText, LongText, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME, DESCRIPTION, SERVER = 128, 512, 256


def _id() -> sa.Uuid[str]:
    return sa.Uuid(as_uuid=False)


def _row_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("credential_id", _id(), nullable=False),
        sa.Column("name", sa.Unicode(NAME), nullable=False),
        sa.Column("kind", sa.Unicode(32), nullable=False),
        sa.Column("username", sa.Unicode(NAME)),
        sa.Column("secret_ciphertext", AsciiText()),
        sa.Column("secret_uri", sa.Unicode(2048)),
        sa.Column("client_id", _id()),
        sa.Column("description", sa.Unicode(DESCRIPTION), nullable=False),
        sa.Column("created_time", UtcDateTime(), nullable=False),
        sa.Column("modified_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("credential_id", name="pk_credentials"),
        sa.UniqueConstraint("name", name="uq_credentials_name"),
    )
    op.create_table(
        "target_groups",
        sa.Column("target_group_id", _id(), nullable=False),
        sa.Column("name", sa.Unicode(NAME), nullable=False),
        sa.Column("description", sa.Unicode(DESCRIPTION), nullable=False),
        sa.Column("created_time", UtcDateTime(), nullable=False),
        sa.Column("modified_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("target_group_id", name="pk_target_groups"),
        sa.UniqueConstraint("name", name="uq_target_groups_name"),
    )
    op.create_table(
        "target_group_members",
        sa.Column("target_id", _id(), nullable=False),
        sa.Column("target_group_id", _id(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("membership_type", sa.Unicode(16), nullable=False),
        sa.Column("target_type", sa.Unicode(32), nullable=False),
        sa.Column("engine", sa.Unicode(16), nullable=False),
        sa.Column("server_name", sa.Unicode(SERVER), nullable=False),
        sa.Column("port", sa.Integer()),
        sa.Column("database_name", sa.Unicode(NAME)),
        sa.Column("elastic_pool_name", sa.Unicode(NAME)),
        sa.Column("refresh_credential_name", sa.Unicode(NAME)),
        sa.PrimaryKeyConstraint("target_id", name="pk_target_group_members"),
        sa.ForeignKeyConstraint(
            ["target_group_id"],
            ["target_groups.target_group_id"],
            name="fk_target_group_members_target_group_id_target_groups",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_target_group_members_target_group_id", "target_group_members", ["target_group_id"]
    )
    op.create_index(
        "ix_target_group_members_refresh_credential_name",
        "target_group_members",
        ["refresh_credential_name"],
    )
    op.create_table(
        "jobs",
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("name", sa.Unicode(NAME), nullable=False),
        sa.Column("description", sa.Unicode(DESCRIPTION), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("schedule_interval_type", sa.Unicode(50), nullable=False),
        sa.Column("schedule_interval_count", sa.Integer(), nullable=False),
        sa.Column("schedule_start_time", UtcDateTime(), nullable=False),
        sa.Column("schedule_end_time", UtcDateTime(), nullable=False),
        sa.Column("job_version", sa.Integer(), nullable=False),
        sa.Column("created_time", UtcDateTime(), nullable=False),
        sa.Column("modified_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_jobs"),
        sa.UniqueConstraint("name", name="uq_jobs_name"),
    )
    op.create_table(
        "job_versions",
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("job_version", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("created_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "job_version", name="pk_job_versions"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.job_id"], name="fk_job_versions_job_id_jobs", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "job_steps",
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("job_version", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("step_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("step_name", sa.Unicode(NAME), nullable=False),
        sa.Column("command_type", sa.Unicode(50), nullable=False),
        sa.Column("command", LongText(), nullable=False),
        sa.Column("credential_name", sa.Unicode(NAME)),
        sa.Column("target_group_name", sa.Unicode(NAME), nullable=False),
        sa.Column("initial_retry_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("maximum_retry_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("retry_interval_backoff_multiplier", sa.Float(), nullable=False),
        sa.Column("retry_attempts", sa.Integer(), nullable=False),
        sa.Column("step_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("max_parallelism", sa.Integer()),
        sa.Column("on_failure", sa.Unicode(16), nullable=False),
        sa.Column("output_type", sa.Unicode(11)),
        sa.Column("output_engine", sa.Unicode(16)),
        sa.Column("output_server_name", sa.Unicode(SERVER)),
        sa.Column("output_port", sa.Integer()),
        sa.Column("output_database_name", sa.Unicode(NAME)),
        sa.Column("output_schema_name", sa.Unicode(NAME)),
        sa.Column("output_table_name", sa.Unicode(NAME)),
        sa.Column("output_credential_name", sa.Unicode(NAME)),
        sa.PrimaryKeyConstraint("job_id", "job_version", "step_id", name="pk_job_steps"),
        sa.ForeignKeyConstraint(
            ["job_id", "job_version"],
            ["job_versions.job_id", "job_versions.job_version"],
            name="fk_job_steps_job_id_job_versions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "job_id", "job_version", "step_name", name="uq_job_steps_job_id_job_version_step_name"
        ),
    )
    op.create_index("ix_job_steps_credential_name", "job_steps", ["credential_name"])
    op.create_index("ix_job_steps_target_group_name", "job_steps", ["target_group_name"])
    op.create_index("ix_job_steps_output_credential_name", "job_steps", ["output_credential_name"])
    op.create_table(
        "job_executions",
        sa.Column("row_id", _row_id(), nullable=False, autoincrement=True),
        sa.Column("job_execution_id", _id(), nullable=False),
        sa.Column("job_name", sa.Unicode(NAME), nullable=False),
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("job_version", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer()),
        sa.Column("step_name", sa.Unicode(NAME)),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("lifecycle", sa.Unicode(50), nullable=False),
        sa.Column("create_time", UtcDateTime(), nullable=False),
        sa.Column("start_time", UtcDateTime()),
        sa.Column("end_time", UtcDateTime()),
        sa.Column("current_attempts", sa.Integer(), nullable=False),
        sa.Column("current_attempt_start_time", UtcDateTime()),
        sa.Column("next_attempt_start_time", UtcDateTime()),
        sa.Column("last_message", LongText()),
        sa.Column("target_type", sa.Unicode(NAME)),
        sa.Column("target_id", _id()),
        sa.Column("target_group_name", sa.Unicode(NAME)),
        sa.Column("target_server_name", sa.Unicode(SERVER)),
        sa.Column("target_database_name", sa.Unicode(NAME)),
        sa.Column("instance_id", sa.Unicode(256)),
        sa.Column("target_ordinal", sa.Integer()),
        sa.Column("target_engine", sa.Unicode(16)),
        sa.Column("target_port", sa.Integer()),
        sa.Column("target_elastic_pool_name", sa.Unicode(NAME)),
        sa.Column("max_attempts", sa.Integer()),
        sa.Column("cancel_requested_time", UtcDateTime()),
        sa.PrimaryKeyConstraint("row_id", name="pk_job_executions"),
        sa.UniqueConstraint(
            "job_execution_id",
            "step_id",
            "target_ordinal",
            name="uq_job_executions_job_execution_id_step_id_target_ordinal",
        ),
    )
    op.create_index("ix_job_executions_create_time", "job_executions", ["create_time"])
    op.create_index("ix_job_executions_job_id_is_active", "job_executions", ["job_id", "is_active"])
    op.create_index(
        "ix_job_executions_target_activity",
        "job_executions",
        ["job_id", "step_id", "target_server_name", "target_database_name", "is_active"],
    )
    op.create_table(
        "target_results",
        sa.Column("row_id", _row_id(), nullable=False, autoincrement=False),
        sa.Column("columns_json", LongText(), nullable=False),
        sa.Column("rows_json", LongText(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("recorded_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name="pk_target_results"),
        sa.ForeignKeyConstraint(
            ["row_id"],
            ["job_executions.row_id"],
            name="fk_target_results_row_id_job_executions",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "target_messages",
        sa.Column("message_id", _row_id(), nullable=False, autoincrement=True),
        sa.Column("row_id", _row_id(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("message", LongText(), nullable=False),
        sa.Column("recorded_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_target_messages"),
        sa.ForeignKeyConstraint(
            ["row_id"],
            ["job_executions.row_id"],
            name="fk_target_messages_row_id_job_executions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "row_id", "attempt", "sequence", name="uq_target_messages_row_id_attempt_sequence"
        ),
    )


def downgrade() -> None:
    for table in (
        "target_messages",
        "target_results",
        "job_executions",
        "job_steps",
        "job_versions",
        "jobs",
        "target_group_members",
        "target_groups",
        "credentials",
    ):
        op.drop_table(table)
