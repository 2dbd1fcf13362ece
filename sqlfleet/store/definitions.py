"""Credentials and target groups in the job database (part of ``SqlJobStore``)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sqlfleet.errors import Conflict, InUse, NotFound, ValidationFailed
from sqlfleet.models import (
    Credential,
    CredentialKind,
    CredentialRecord,
    Member,
    MemberIn,
    TargetGroup,
    TargetGroupIn,
    new_id,
)
from sqlfleet.models.targets import MembershipType, member_identity
from sqlfleet.store.database import Database
from sqlfleet.store.runs import RUN_GROUP_PREFIX
from sqlfleet.store.tables import (
    credentials,
    job_notifications,
    job_steps,
    jobs,
    target_group_members,
    target_groups,
)

_CREATE_CREDENTIAL = "create it with PUT /api/credentials/{name}"
_CREATE_GROUP = "create it with PUT /api/target-groups/{name}"


class CredentialStore:
    """Credentials: the public document, and the stored record activities sign in with."""

    _db: Database
    _clock: Callable[[], dt.datetime]

    def list_credentials(self) -> list[Credential]:
        with self._db.read() as connection:
            rows = connection.execute(sa.select(credentials).order_by(credentials.c.name))
            return [_credential(row) for row in rows.mappings()]

    def get_credential(self, name: str) -> Credential:
        """Raises ``NotFound``."""
        with self._db.read() as connection:
            return _credential(_credential_row(connection, name))

    def get_credential_record(self, name: str) -> CredentialRecord:
        """The stored record, secret still encrypted. Raises ``NotFound``."""
        with self._db.read() as connection:
            row = _credential_row(connection, name)
        return CredentialRecord(
            name=row["name"],
            kind=CredentialKind(row["kind"]),
            username=row["username"],
            secret_ciphertext=row["secret_ciphertext"],
            secret_uri=row["secret_uri"],
            client_id=row["client_id"],
            description=row["description"],
        )

    def put_credential(self, record: CredentialRecord) -> tuple[Credential, bool]:
        """Create or replace ``record.name``; returns the document and whether it was created.

        ``record`` comes from ``sqlfleet.credentials.seal`` (its password already encrypted).
        """
        if record.kind == CredentialKind.PASSWORD and not record.secret_ciphertext:
            raise ValueError("a password credential must be sealed before it is stored")
        now = self._clock()
        values = {
            "kind": record.kind.value,
            "username": record.username,
            "secret_ciphertext": record.secret_ciphertext,
            "secret_uri": record.secret_uri,
            "client_id": record.client_id,
            "description": record.description,
            "modified_time": now,
        }
        with self._db.write("credential", record.name) as connection:
            found = connection.execute(
                sa.select(credentials.c.credential_id).where(credentials.c.name == record.name)
            ).first()
            if found:
                connection.execute(
                    credentials.update()
                    .where(credentials.c.credential_id == found.credential_id)
                    .values(**values)
                )
            else:
                connection.execute(
                    credentials.insert().values(
                        credential_id=new_id(), name=record.name, created_time=now, **values
                    )
                )
            return _credential(_credential_row(connection, record.name)), found is None

    def delete_credential(self, name: str) -> None:
        """Raises ``NotFound``, or ``InUse`` while a current step or a member refers to it."""
        with self._db.write("credential", name) as connection:
            _credential_row(connection, name)
            users = credential_users(connection, name)
            if users:
                raise InUse("credential", name, users)
            connection.execute(credentials.delete().where(credentials.c.name == name))


class TargetGroupStore:
    """Target groups with their members (kept in the order they were given)."""

    _db: Database
    _clock: Callable[[], dt.datetime]

    def list_target_groups(self) -> list[TargetGroup]:
        with self._db.read() as connection:
            names = connection.execute(
                sa.select(target_groups.c.name)
                .where(~target_groups.c.name.startswith(RUN_GROUP_PREFIX, autoescape=True))
                .order_by(target_groups.c.name)
            ).scalars()
            # Ad hoc runs' hidden groups (sqlfleet.store.runs) are never listed.
            return [_read_group(connection, name) for name in list(names)]

    def get_target_group(self, name: str) -> TargetGroup:
        """Raises ``NotFound``."""
        with self._db.read() as connection:
            return _read_group(connection, name)

    def put_target_group(self, name: str, document: TargetGroupIn) -> tuple[TargetGroup, bool]:
        """Create or replace group ``name`` and all its members, in one transaction.

        Raises ``ValidationFailed`` naming ``members[i].<field>`` for unknown credentials or a
        ``target_id`` that belongs to another group.
        """
        now = self._clock()
        with self._db.write("target group", name) as connection:
            found = _find_group_row(connection, name)
            group_id = found["target_group_id"] if found else new_id()
            for index, member in enumerate(document.members):
                _check_member(connection, member, f"members[{index}].", group_id)
            if found:
                connection.execute(
                    target_groups.update()
                    .where(target_groups.c.target_group_id == group_id)
                    .values(description=document.description, modified_time=now)
                )
                connection.execute(
                    target_group_members.delete().where(
                        target_group_members.c.target_group_id == group_id
                    )
                )
            else:
                connection.execute(
                    target_groups.insert().values(
                        target_group_id=group_id,
                        name=name,
                        description=document.description,
                        created_time=now,
                        modified_time=now,
                    )
                )
            for position, member in enumerate(document.members):
                _insert_member(connection, group_id, position, member, member.target_id)
            return _read_group(connection, name), found is None

    def delete_target_group(self, name: str) -> None:
        """Raises ``NotFound``, or ``InUse`` while a step of a job's current version uses it."""
        with self._db.write("target group", name) as connection:
            group = _group_row(connection, name)
            users = target_group_users(connection, name)
            if users:
                raise InUse("target group", name, users)
            connection.execute(
                target_group_members.delete().where(
                    target_group_members.c.target_group_id == group["target_group_id"]
                )
            )
            connection.execute(
                target_groups.delete().where(
                    target_groups.c.target_group_id == group["target_group_id"]
                )
            )

    def list_members(self, group_name: str) -> list[Member]:
        return self.get_target_group(group_name).members

    def get_member(self, group_name: str, target_id: str) -> Member:
        """Raises ``NotFound`` for an unknown group or member."""
        for member in self.get_target_group(group_name).members:
            if member.target_id == _uuid_or_none(target_id):
                return member
        raise NotFound("member", target_id, f"target group '{group_name}' has no such member")

    def add_member(self, group_name: str, document: MemberIn) -> Member:
        """Append a member (new ``target_id`` unless the document gives one).

        Raises ``NotFound`` (group), ``Conflict`` (the same member exists), ``ValidationFailed``.
        """
        target_id = document.target_id or new_id()
        return self._write_member(group_name, target_id, document, create_only=True)[0]

    def put_member(
        self, group_name: str, target_id: str, document: MemberIn
    ) -> tuple[Member, bool]:
        """Create or replace member ``target_id`` of the group; returns it and whether created."""
        canonical = _uuid_or_none(target_id)
        if canonical is None:
            raise ValidationFailed("target_id", "expected a UUID")
        if document.target_id not in (None, canonical):
            raise ValidationFailed("target_id", "differs from the target_id in the path")
        return self._write_member(group_name, canonical, document, create_only=False)

    def delete_member(self, group_name: str, target_id: str) -> None:
        """Raises ``NotFound``."""
        with self._db.write("target group", group_name) as connection:
            group = _group_row(connection, group_name)
            result = connection.execute(
                target_group_members.delete().where(
                    target_group_members.c.target_group_id == group["target_group_id"],
                    target_group_members.c.target_id == _uuid_or_none(target_id),
                )
            )
            if result.rowcount == 0:
                raise NotFound(
                    "member", target_id, f"target group '{group_name}' has no such member"
                )
            _touch_group(connection, group["target_group_id"], self._clock())

    def _write_member(
        self, group_name: str, target_id: str, document: MemberIn, *, create_only: bool
    ) -> tuple[Member, bool]:
        with self._db.write("target group", group_name) as connection:
            group = _group_row(connection, group_name)
            group_id = group["target_group_id"]
            _check_member(connection, document, "", group_id, target_id)
            existing = (
                connection.execute(
                    sa.select(target_group_members).where(
                        target_group_members.c.target_group_id == group_id
                    )
                )
                .mappings()
                .all()
            )
            mine = next((row for row in existing if row["target_id"] == target_id), None)
            if mine is not None and create_only:
                raise Conflict(
                    "member", target_id, f"already exists in target group '{group_name}'"
                )
            for row in existing:
                if row["target_id"] != target_id and member_identity(
                    _member(row, group_name)
                ) == member_identity(document):
                    raise Conflict(
                        "target group",
                        group_name,
                        f"already has this member (target_id {row['target_id']})",
                    )
            if mine is not None:
                connection.execute(
                    target_group_members.delete().where(
                        target_group_members.c.target_id == target_id
                    )
                )
                position = mine["position"]
            else:
                position = max((row["position"] for row in existing), default=-1) + 1
            _insert_member(connection, group_id, position, document, target_id)
            _touch_group(connection, group_id, self._clock())
            group_doc = _read_group(connection, group_name)
        member = next(m for m in group_doc.members if m.target_id == target_id)
        return member, mine is None


def credential_users(connection: Connection, name: str) -> list[str]:
    """Who refers to credential ``name``: current job steps and target group members."""
    users = [
        f"job '{row.name}' step {row.step_id}"
        for row in connection.execute(
            _current_steps()
            .where(
                sa.or_(
                    job_steps.c.credential_name == name,
                    job_steps.c.output_credential_name == name,
                )
            )
            .order_by(jobs.c.name, job_steps.c.step_id)
        )
    ]
    users += [
        f"target group '{row.name}' member {row.target_id}"
        for row in connection.execute(
            sa.select(target_groups.c.name, target_group_members.c.target_id)
            .join(target_groups)
            .where(target_group_members.c.refresh_credential_name == name)
            .order_by(target_groups.c.name)
        )
    ]
    # Notification rules are JSON documents: look for the name where it can be, then read them.
    rules = connection.execute(
        sa.select(jobs.c.name, job_notifications.c.name.label("rule"), job_notifications.c.document)
        .join(jobs, jobs.c.job_id == job_notifications.c.job_id)
        .where(
            job_notifications.c.document.contains(
                json.dumps(name, ensure_ascii=False)[1:-1], autoescape=True
            )
        )
        .order_by(jobs.c.name, job_notifications.c.position)
    )
    users += [
        f"job '{row.name}' notification '{row.rule}'"
        for row in rules
        if name
        in {
            json.loads(row.document).get(field)
            for field in ("secret_credential_name", "smtp_credential_name")
        }
    ]
    return users


def target_group_users(connection: Connection, name: str) -> list[str]:
    return [
        f"job '{row.name}' step {row.step_id}"
        for row in connection.execute(
            _current_steps()
            .where(job_steps.c.target_group_name == name)
            .order_by(jobs.c.name, job_steps.c.step_id)
        )
    ]


def _current_steps() -> sa.Select[Any]:
    return sa.select(jobs.c.name, job_steps.c.step_id).join(
        job_steps,
        sa.and_(job_steps.c.job_id == jobs.c.job_id, job_steps.c.job_version == jobs.c.job_version),
    )


def require_credential(connection: Connection, name: str | None, field: str) -> None:
    """``ValidationFailed(field)`` unless credential ``name`` exists (None is fine)."""
    if name is None:
        return
    found = connection.execute(
        sa.select(credentials.c.credential_id).where(credentials.c.name == name)
    ).first()
    if not found:
        raise ValidationFailed(
            field, f"credential '{name}' does not exist; {_CREATE_CREDENTIAL.format(name=name)}"
        )


def refuse_identity_on(
    connection: Connection, credential: str | None, engines: set[str], field: str
) -> None:
    """``ValidationFailed(field)`` when ``credential`` is a managed identity and one of
    ``engines`` signs in with a user and password (only sqlserver takes Entra tokens; sqlite
    needs no sign-in): it could only fail when the step runs."""
    if credential is None:
        return
    kind = connection.execute(
        sa.select(credentials.c.kind).where(credentials.c.name == credential)
    ).scalar()
    refused = sorted(engines & {"postgresql", "mysql"})
    if kind == CredentialKind.MANAGED_IDENTITY.value and refused:
        raise ValidationFailed(
            field,
            f"credential '{credential}' is a managed identity, which only sqlserver targets "
            f"accept, and this step reaches {' and '.join(refused)} targets; use a password "
            "or keyVault credential",
        )


def group_engines(connection: Connection, name: str) -> set[str]:
    """The engines of target group ``name``'s include members."""
    return set(
        connection.execute(
            sa.select(target_group_members.c.engine)
            .join(target_groups)
            .where(
                target_groups.c.name == name,
                target_group_members.c.membership_type == MembershipType.INCLUDE.value,
            )
        ).scalars()
    )


def require_target_group(connection: Connection, name: str, field: str) -> None:
    if _find_group_row(connection, name) is None:
        raise ValidationFailed(
            field, f"target group '{name}' does not exist; {_CREATE_GROUP.format(name=name)}"
        )


def _check_member(
    connection: Connection,
    member: MemberIn,
    prefix: str,
    group_id: str,
    target_id: str | None = None,
) -> None:
    require_credential(
        connection, member.refresh_credential_name, f"{prefix}refresh_credential_name"
    )
    refuse_identity_on(
        connection,
        member.refresh_credential_name,
        {member.engine.value},
        f"{prefix}refresh_credential_name",
    )
    target_id = target_id or member.target_id
    if target_id is None:
        return
    other = connection.execute(
        sa.select(target_groups.c.name)
        .join(target_group_members)
        .where(
            target_group_members.c.target_id == target_id,
            target_group_members.c.target_group_id != group_id,
        )
    ).first()
    if other:
        raise ValidationFailed(
            f"{prefix}target_id", f"belongs to a member of target group '{other.name}'"
        )


def _insert_member(
    connection: Connection, group_id: str, position: int, member: MemberIn, target_id: str | None
) -> None:
    connection.execute(
        target_group_members.insert().values(
            target_id=target_id or new_id(),
            target_group_id=group_id,
            position=position,
            membership_type=member.membership_type.value,
            target_type=member.target_type.value,
            engine=member.engine.value,
            server_name=member.server_name,
            port=member.port,
            database_name=member.database_name,
            elastic_pool_name=member.elastic_pool_name,
            refresh_credential_name=member.refresh_credential_name,
        )
    )


def _touch_group(connection: Connection, group_id: str, now: dt.datetime) -> None:
    connection.execute(
        target_groups.update()
        .where(target_groups.c.target_group_id == group_id)
        .values(modified_time=now)
    )


def _credential_row(connection: Connection, name: str) -> RowMapping:
    row = (
        connection.execute(sa.select(credentials).where(credentials.c.name == name))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("credential", name, _CREATE_CREDENTIAL.format(name=name))
    return row


# Built once: every step's expansion reads its group.
_GROUP_BY_NAME = sa.select(target_groups).where(target_groups.c.name == sa.bindparam("name"))
_MEMBERS = (
    sa.select(target_group_members)
    .where(target_group_members.c.target_group_id == sa.bindparam("id"))
    .order_by(target_group_members.c.position)
)


def _find_group_row(connection: Connection, name: str) -> RowMapping | None:
    return connection.execute(_GROUP_BY_NAME, {"name": name}).mappings().first()


def _group_row(connection: Connection, name: str) -> RowMapping:
    row = _find_group_row(connection, name)
    if row is None:
        raise NotFound("target group", name, _CREATE_GROUP.format(name=name))
    return row


def _read_group(connection: Connection, name: str) -> TargetGroup:
    group = _group_row(connection, name)
    rows = connection.execute(_MEMBERS, {"id": group["target_group_id"]}).mappings()
    return TargetGroup(
        name=group["name"],
        target_group_id=group["target_group_id"],
        description=group["description"],
        members=[_member(row, name) for row in rows],
        created_time=group["created_time"],
        modified_time=group["modified_time"],
    )


def _member(row: RowMapping, group_name: str) -> Member:
    return Member(
        target_id=row["target_id"],
        target_group_name=group_name,
        membership_type=row["membership_type"],
        target_type=row["target_type"],
        engine=row["engine"],
        server_name=row["server_name"],
        port=row["port"],
        database_name=row["database_name"],
        elastic_pool_name=row["elastic_pool_name"],
        refresh_credential_name=row["refresh_credential_name"],
    )


def _credential(row: RowMapping) -> Credential:
    return Credential(
        name=row["name"],
        credential_id=row["credential_id"],
        kind=row["kind"],
        username=row["username"],
        has_secret=bool(row["secret_ciphertext"]) or bool(row["secret_uri"]),
        secret_uri=row["secret_uri"],
        client_id=row["client_id"],
        description=row["description"],
        created_time=row["created_time"],
        modified_time=row["modified_time"],
    )


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None
