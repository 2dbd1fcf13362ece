"""The job model (issue 16): job parameters and the values an execution ran with, ad hoc runs
(hidden jobs), schedules with a time zone or a cron expression.

Revision ID: 0004_job_model
Revises: 0003_notifications
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlfleet.store.tables import LongText

revision = "0004_job_model"
down_revision = "0003_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("schedule_time_zone", sa.Unicode(64)))
        batch.add_column(sa.Column("schedule_cron", sa.Unicode(256)))
        batch.add_column(sa.Column("parameters_json", LongText()))
        batch.add_column(sa.Column("kind", sa.Unicode(16), nullable=False, server_default="job"))
    with op.batch_alter_table("job_executions") as batch:
        batch.add_column(sa.Column("parameters_json", LongText()))


def downgrade() -> None:
    with op.batch_alter_table("job_executions") as batch:
        batch.drop_column("parameters_json")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("kind")
        batch.drop_column("parameters_json")
        batch.drop_column("schedule_cron")
        batch.drop_column("schedule_time_zone")
