"""Target groups and their members: which databases a step runs on."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

from pydantic import Field, model_validator

from sqlfleet.engine import Engine
from sqlfleet.models.common import (
    ApiModel,
    Description,
    DocumentModel,
    Name,
    Port,
    ServerName,
    Uuid,
    field_error,
    spelled,
    unsupported_error,
)

MAX_MEMBERS_PER_GROUP = 10_000


class MembershipType(str, Enum):
    INCLUDE = "include"
    EXCLUDE = "exclude"


class TargetType(str, Enum):
    SERVER = "server"
    ELASTIC_POOL = "elasticPool"
    DATABASE = "database"
    # Elastic Jobs' preview API had shard maps; recognised so that it answers 501, not 422.
    SHARD_MAP = "shardMap"


# Elastic Jobs' spellings (SqlServer, SqlElasticPool, SqlDatabase; Include, Exclude), as the CLI.
_TARGET_TYPE = spelled(
    TargetType,
    {"SqlServer": "server", "SqlElasticPool": "elasticPool", "SqlDatabase": "database"},
)
_MEMBERSHIP = spelled(
    MembershipType, {kind.value.capitalize(): kind.value for kind in MembershipType}
)


class MemberIn(ApiModel):
    """One member of a target group.

    ``server`` (every database on the server when the step runs), ``elasticPool`` (every
    database in the pool; Azure SQL only) or ``database``. Server and pool members name the
    ``refresh_credential_name`` used to list databases (any kind, a managed identity included),
    except for ``sqlite``, where a server is a folder and its databases are its ``*.db`` files.
    """

    target_id: Uuid | None = None
    membership_type: Annotated[MembershipType, _MEMBERSHIP[0], _MEMBERSHIP[1]] = (
        MembershipType.INCLUDE
    )
    target_type: Annotated[TargetType, _TARGET_TYPE[0], _TARGET_TYPE[1]]
    engine: Engine = Engine.SQLSERVER
    server_name: ServerName
    port: Port | None = None
    database_name: Name | None = None
    elastic_pool_name: Name | None = None
    refresh_credential_name: Name | None = None

    @model_validator(mode="after")
    def _type_rules(self) -> MemberIn:
        kind = self.target_type
        if kind == TargetType.SHARD_MAP:
            raise unsupported_error("target_type", "shard map members")
        if kind == TargetType.DATABASE:
            if self.database_name is None:
                raise field_error("database_name", "a database member needs database_name")
            self._refuse("elastic_pool_name", "only elasticPool members name a pool")
            self._refuse(
                "refresh_credential_name",
                "only server and elasticPool members list databases; the step's credential "
                "signs in to a database member",
            )
        else:
            self._refuse("database_name", f"a {kind.value} member covers all its databases")
            if kind == TargetType.ELASTIC_POOL:
                if self.engine != Engine.SQLSERVER:
                    raise field_error("engine", "elastic pools exist only for engine sqlserver")
                if self.elastic_pool_name is None:
                    raise field_error(
                        "elastic_pool_name", "an elasticPool member needs elastic_pool_name"
                    )
            else:
                self._refuse("elastic_pool_name", "only elasticPool members name a pool")
            if self.refresh_credential_name is None and self.engine != Engine.SQLITE:
                raise field_error(
                    "refresh_credential_name",
                    f"a {kind.value} member needs refresh_credential_name, the credential that "
                    "lists its databases (a managedIdentity credential will do)",
                )
        if self.engine == Engine.SQLITE and self.port is not None:
            raise field_error("port", "sqlite members have no port (server_name is a folder)")
        if self.engine == Engine.POSTGRESQL and (
            self.server_name.startswith(("/", "@")) or "," in self.server_name
        ):
            # libpq reads a path as a Unix socket of the host and a comma as a list of hosts.
            raise field_error(
                "server_name",
                "expected one host name or IP address (a socket path or a list of hosts "
                "would reach the host's own sockets, or other servers, not one target)",
            )
        return self

    def _refuse(self, name: str, reason: str) -> None:
        if getattr(self, name) is not None:
            raise field_error(name, reason)


class TargetGroupIn(ApiModel):
    """A target group as clients send it (PUT /api/target-groups/{name}); members are replaced."""

    name: Name | None = None
    description: Description = ""
    members: Annotated[list[MemberIn], Field(max_length=MAX_MEMBERS_PER_GROUP)] = []

    @model_validator(mode="after")
    def _distinct_members(self) -> TargetGroupIn:
        seen_ids: dict[str, int] = {}
        seen: dict[tuple[object, ...], int] = {}
        for index, member in enumerate(self.members):
            if member.target_id is not None:
                if member.target_id in seen_ids:
                    raise field_error(
                        f"members[{index}].target_id",
                        f"repeats the target_id of members[{seen_ids[member.target_id]}]",
                    )
                seen_ids[member.target_id] = index
            key = member_identity(member)
            if key in seen:
                raise field_error(
                    f"members[{index}]", f"is the same member as members[{seen[key]}]"
                )
            seen[key] = index
        return self


class Member(DocumentModel):
    target_id: str
    target_group_name: str
    membership_type: MembershipType
    target_type: TargetType
    engine: Engine
    server_name: str
    port: int | None
    database_name: str | None
    elastic_pool_name: str | None
    refresh_credential_name: str | None


class TargetGroup(DocumentModel):
    name: str
    target_group_id: str
    description: str
    members: list[Member]
    created_time: dt.datetime
    modified_time: dt.datetime


def member_identity(member: MemberIn | Member) -> tuple[object, ...]:
    """What makes two members the same, ids aside: their kind and pool, and their database
    or server by the one rule of ``sqlfleet.targets.target_identity``."""
    from sqlfleet.targets import target_identity  # it needs the dialects, which need models

    where = target_identity(member.engine, member.server_name, member.port, member.database_name)
    return (member.membership_type, member.target_type, *where, member.elastic_pool_name)
