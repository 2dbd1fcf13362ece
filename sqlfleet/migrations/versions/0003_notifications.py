"""Notifications: a job's rules and the deliveries of ended executions.

Revision ID: 0003_notifications
Revises: 0002_monitoring
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlfleet.store.tables import LongText, UtcDateTime

revision = "0003_notifications"
down_revision = "0002_monitoring"
branch_labels = None
depends_on = None

NAME = 128


def _id() -> sa.Uuid[str]:
    return sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "job_notifications",
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Unicode(NAME), nullable=False),
        sa.Column("document", LongText(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.job_id"],
            name="fk_job_notifications_job_id_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name="pk_job_notifications"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("delivery_id", _id(), nullable=False),
        sa.Column("job_execution_id", _id(), nullable=False),
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
        sa.PrimaryKeyConstraint("delivery_id", name="pk_notification_deliveries"),
    )
    op.create_index(
        "ix_notification_deliveries_job_execution_id",
        "notification_deliveries",
        ["job_execution_id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_notification_deliveries_job_execution_id", table_name="notification_deliveries"
    )
    op.drop_table("notification_deliveries")
    op.drop_table("job_notifications")
