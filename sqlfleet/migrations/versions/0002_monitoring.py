"""Monitoring and reruns: a rerun's original and chosen targets, the ended attempts of retried
targets, and an index on job rows for lists and their counts.

Revision ID: 0002_monitoring
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlfleet.store.tables import LongText, UtcDateTime

revision = "0002_monitoring"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME, SERVER = 128, 256


def _id() -> sa.Uuid[str]:
    return sa.Uuid(as_uuid=False)


def _row_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("job_executions") as batch:
        batch.add_column(sa.Column("rerun_of_job_execution_id", _id()))
        batch.create_index(
            "ix_job_executions_rerun_of_job_execution_id", ["rerun_of_job_execution_id"]
        )
        batch.create_index("ix_job_executions_step_id_create_time", ["step_id", "create_time"])
    op.create_table(
        "rerun_targets",
        sa.Column("job_execution_id", _id(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("target_engine", sa.Unicode(16), nullable=False),
        sa.Column("target_server_name", sa.Unicode(SERVER), nullable=False),
        sa.Column("target_port", sa.Integer()),
        sa.Column("target_database_name", sa.Unicode(NAME)),
        sa.PrimaryKeyConstraint("job_execution_id", "position", name="pk_rerun_targets"),
    )
    op.create_table(
        "target_attempts",
        sa.Column("row_id", _row_id(), autoincrement=False, nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("start_time", UtcDateTime()),
        sa.Column("end_time", UtcDateTime(), nullable=False),
        sa.Column("message", LongText()),
        sa.ForeignKeyConstraint(
            ["row_id"],
            ["job_executions.row_id"],
            name="fk_target_attempts_row_id_job_executions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("row_id", "attempt", name="pk_target_attempts"),
    )


def downgrade() -> None:
    op.drop_table("target_attempts")
    op.drop_table("rerun_targets")
    with op.batch_alter_table("job_executions") as batch:
        batch.drop_index("ix_job_executions_step_id_create_time")
        batch.drop_index("ix_job_executions_rerun_of_job_execution_id")
        batch.drop_column("rerun_of_job_execution_id")
