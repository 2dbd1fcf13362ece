"""Notification rules and deliveries (part of ``SqlJobStore``).

A job's rules are rows of ``job_notifications`` (each rule's document as JSON, in order), written
with the job (``put_job``) and read with it (``read_job``). When an execution ends,
``plan_deliveries`` records one delivery per rule whose lifecycles include the execution's, with
the rule as it was then; the delivery orchestration tries each one and records every try here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlfleet.errors import NotFound
from sqlfleet.models.notifications import (
    DELIVERY_ATTEMPTS,
    Delivery,
    DeliveryStatus,
    NotificationRule,
    NotificationRuleIn,
    destination_of,
)
from sqlfleet.store.database import Database
from sqlfleet.store.tables import job_executions, job_notifications, notification_deliveries

N = job_notifications
D = notification_deliveries
ERROR_TEXT_LIMIT = 2000
_DELIVERY_NAMESPACE = uuid.UUID("8a3f7c52-1d6e-4b0a-9c57-2e4d1f6b8a90")


def write_rules(connection: Connection, job_id: str, rules: Sequence[NotificationRuleIn]) -> None:
    """Replace the rules of job ``job_id`` (inside the caller's transaction)."""
    connection.execute(N.delete().where(N.c.job_id == job_id))
    for position, rule in enumerate(rules):
        connection.execute(
            N.insert().values(
                job_id=job_id,
                position=position,
                name=rule.name,
                document=rule.model_dump_json(exclude_defaults=False),
            )
        )


_RULES = sa.select(N.c.document).where(N.c.job_id == sa.bindparam("job_id")).order_by(N.c.position)


def read_rules(connection: Connection, job_id: str) -> list[NotificationRule]:
    rows = connection.execute(_RULES, {"job_id": job_id})
    return [NotificationRule.model_validate_json(row.document) for row in rows]


def delivery_id(job_execution_id: str, rule_name: str) -> str:
    """Deterministic: planning twice (a redelivered activity) records each delivery once."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{job_execution_id}/{rule_name}"))


def _delivery(row: Any) -> Delivery:
    return Delivery.model_validate({key: row[key] for key in Delivery.model_fields if key in row})


# What planning an ended execution's deliveries reads (built once: every execution asks).
_ENDED_EXECUTION = sa.select(
    job_executions.c.job_id,
    job_executions.c.job_name,
    job_executions.c.lifecycle,
    job_executions.c.is_active,
).where(
    job_executions.c.job_execution_id == sa.bindparam("job_execution_id"),
    job_executions.c.step_id.is_(None),
)
_PLANNED_RULES = sa.select(D.c.rule_name).where(
    D.c.job_execution_id == sa.bindparam("job_execution_id")
)
_PENDING_DELIVERIES = (
    sa.select(D)
    .where(
        D.c.job_execution_id == sa.bindparam("job_execution_id"),
        D.c.status == DeliveryStatus.PENDING.value,
    )
    .order_by(D.c.created_time, D.c.rule_name)
)


class NotificationStore:
    _db: Database
    _clock: Callable[[], dt.datetime]

    def get_notification_rules(self, job_name: str) -> list[NotificationRule]:
        """The rules of job ``job_name``, in order. Raises ``NotFound``."""
        from sqlfleet.store.versions import job_row

        with self._db.read() as connection:
            return read_rules(connection, job_row(connection, job_name)["job_id"])

    def put_notification_rules(
        self, job_name: str, rules: Sequence[NotificationRuleIn]
    ) -> list[NotificationRule]:
        """Replace the rules of job ``job_name``. Raises ``NotFound`` (the job), and
        ``ValidationFailed`` naming ``notifications[i].<field>`` for unknown credentials."""
        from sqlfleet.store.definitions import require_credential
        from sqlfleet.store.versions import job_row

        with self._db.write("job", job_name) as connection:
            job_id = job_row(connection, job_name, lock=True)["job_id"]
            for index, rule in enumerate(rules):
                for field in ("secret_credential_name", "smtp_credential_name"):
                    require_credential(
                        connection, getattr(rule, field), f"notifications[{index}].{field}"
                    )
            write_rules(connection, job_id, rules)
            return read_rules(connection, job_id)

    def plan_deliveries(self, job_execution_id: str) -> list[Delivery]:
        """Record the deliveries the ended execution ``job_execution_id`` calls for (once) and
        answer every delivery of it that is still ``Pending``. Raises ``NotFound``."""
        now = self._clock()
        with self._db.write("job execution", job_execution_id) as connection:
            ids = {"job_execution_id": job_execution_id}
            execution = connection.execute(_ENDED_EXECUTION, ids).mappings().first()
            if execution is None:
                raise NotFound("job execution", job_execution_id)
            if execution["is_active"]:
                return []
            existing = {row.rule_name for row in connection.execute(_PLANNED_RULES, ids)}
            for rule in read_rules(connection, execution["job_id"]):
                if rule.name in existing or execution["lifecycle"] not in {
                    state.value for state in rule.lifecycles
                }:
                    continue
                connection.execute(
                    D.insert().values(
                        delivery_id=delivery_id(job_execution_id, rule.name),
                        job_execution_id=job_execution_id,
                        job_name=execution["job_name"],
                        rule_name=rule.name,
                        channel=rule.channel.value,
                        destination=destination_of(rule),
                        rule=rule.model_dump_json(),
                        lifecycle=execution["lifecycle"],
                        status=DeliveryStatus.PENDING.value,
                        attempts=0,
                        max_attempts=DELIVERY_ATTEMPTS,
                        created_time=now,
                    )
                )
            rows = connection.execute(_PENDING_DELIVERIES, ids).mappings()
            return [_delivery(row) for row in rows]

    def get_delivery(self, delivery_id: str) -> tuple[Delivery, NotificationRule]:
        """The delivery and the rule it delivers for. Raises ``NotFound``."""
        with self._db.read() as connection:
            row = (
                connection.execute(sa.select(D).where(D.c.delivery_id == delivery_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound("notification delivery", delivery_id)
        return _delivery(row), NotificationRule.model_validate_json(row["rule"])

    def record_delivery_attempt(
        self,
        delivery_id: str,
        attempt: int,
        *,
        delivered: bool,
        status_code: int | None = None,
        error: str | None = None,
        next_attempt_time: dt.datetime | None = None,
    ) -> Delivery:
        """Record try ``attempt`` (1-based): delivered, or failed (then ``Failed`` for good when
        ``next_attempt_time`` is None). A try recorded already is not recorded again. Raises
        ``NotFound``."""
        now = self._clock()
        with self._db.write("notification delivery", delivery_id) as connection:
            row = (
                connection.execute(sa.select(D).where(D.c.delivery_id == delivery_id))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound("notification delivery", delivery_id)
            if row["attempts"] >= attempt or row["status"] != DeliveryStatus.PENDING.value:
                return _delivery(row)
            if delivered:
                status = DeliveryStatus.DELIVERED
            elif next_attempt_time is None:
                status = DeliveryStatus.FAILED
            else:
                status = DeliveryStatus.PENDING
            connection.execute(
                D.update()
                .where(D.c.delivery_id == delivery_id)
                .values(
                    attempts=attempt,
                    status=status.value,
                    last_status_code=status_code,
                    last_error=None if error is None else error[:ERROR_TEXT_LIMIT],
                    next_attempt_time=None if delivered else next_attempt_time,
                    delivered_time=now if delivered else None,
                )
            )
            updated = (
                connection.execute(sa.select(D).where(D.c.delivery_id == delivery_id))
                .mappings()
                .one()
            )
            return _delivery(updated)

    def list_deliveries(self, job_execution_id: str) -> list[Delivery]:
        """Every delivery of the execution, oldest first (none for an execution that does not
        exist)."""
        with self._db.read() as connection:
            rows = connection.execute(
                sa.select(D)
                .where(D.c.job_execution_id == job_execution_id)
                .order_by(D.c.created_time, D.c.rule_name)
            ).mappings()
            return [_delivery(row) for row in rows]
