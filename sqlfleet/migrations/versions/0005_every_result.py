"""Every result of a target and PowerShell's job verbs (issue 16): a step's retry rule and the
result set its output table takes, every result set, row count, message detail and error of a
target (``target_outcomes``), and when a target's output was received.

Revision ID: 0005_every_result
Revises: 0004_job_model
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlfleet.store.tables import LongText, UtcDateTime

revision = "0005_every_result"
down_revision = "0004_job_model"
branch_labels = None
depends_on = None


def _row_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("job_steps") as batch:
        batch.add_column(
            sa.Column("retry_on", sa.Unicode(16), nullable=False, server_default="transient")
        )
        batch.add_column(sa.Column("output_result_set", sa.Integer()))
    with op.batch_alter_table("job_executions") as batch:
        batch.add_column(sa.Column("received_time", UtcDateTime()))
    op.create_table(
        "target_outcomes",
        sa.Column("row_id", _row_id(), autoincrement=False, nullable=False),
        sa.Column("document", LongText(), nullable=False),
        sa.Column("recorded_time", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["row_id"],
            ["job_executions.row_id"],
            name="fk_target_outcomes_row_id_job_executions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("row_id", name="pk_target_outcomes"),
    )


def downgrade() -> None:
    op.drop_table("target_outcomes")
    with op.batch_alter_table("job_executions") as batch:
        batch.drop_column("received_time")
    with op.batch_alter_table("job_steps") as batch:
        batch.drop_column("output_result_set")
        batch.drop_column("retry_on")
