"""Target expansion: a target group's members become the databases a step runs on (pure).

Server and elastic-pool members are expanded when the step runs, through an injected
``list_databases(member)`` (the activity that connects with the refresh credential). Excludes
apply after every include is expanded; a database reached twice is one target, kept at its
first position. Members follow ``sqlfleet.models.targets.Member``'s field names.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from sqlfleet.dialects import SqliteDialect, dialect_for
from sqlfleet.engine import Engine
from sqlfleet.errors import ValidationFailed


class MemberLike(Protocol):
    """What expansion reads from a target group member."""

    @property
    def membership_type(self) -> Any: ...  # include | exclude
    @property
    def target_type(self) -> Any: ...  # server | elasticPool | database
    @property
    def engine(self) -> Any: ...
    @property
    def server_name(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def database_name(self) -> str | None: ...
    @property
    def elastic_pool_name(self) -> str | None: ...


@dataclass(frozen=True)
class Target:
    """One database a step runs on: the one reference to a target from expansion to the
    script. For ``sqlite``, ``server`` is a folder. ``engine`` is always an ``Engine`` (a name
    given as text is converted); ``origin`` is the group member that expansion found it
    through (not part of what the target is)."""

    engine: Engine
    server: str
    port: int | None
    database: str
    origin: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.engine, Engine):
            object.__setattr__(self, "engine", Engine.of(value_text(self.engine)))

    @property
    def identity(self) -> tuple[str, str, int | None, str]:
        """What makes two targets the same database, whatever the spelling.

        Host names compare case-insensitively and a missing port is the engine's default; SQL
        Server database names are case-insensitive; ``db1`` and ``db1.db`` are one SQLite file.
        """
        return target_identity(self.engine, self.server, self.port, self.database)


def stored_target(
    engine: str | Engine | None, server: str | None, port: int | None, database: str | None
) -> Target:
    """The target of a stored target row's columns (no engine is SQL Server)."""
    return Target(Engine.of(engine), server or "", port, database or "")


@dataclass(frozen=True)
class StartedTarget:
    """A target whose attempt starts now: its ordinal in the step, the database, and what its
    script variables need of the job."""

    ordinal: int
    target: Target
    job_name: str
    job_id: str
    job_version: int


def target_identity(
    engine: str | Enum, server: str, port: int | None, database: str | None
) -> tuple[str, str, int | None, str]:
    """The one rule for "the same database" (a target, a target row, a group member):
    ``(engine, server, port, database)`` with host names compared case-insensitively, a
    missing port as the engine's default, SQL Server database names case-insensitively, and
    ``db1``/``db1.db`` as one SQLite file; ``database`` None (a server member) is ''."""
    name = value_text(engine)
    return (name, *_server_identity(name, server, port), _db_key(name, database or ""))


def expand_targets(
    members: Iterable[MemberLike], list_databases: Callable[[MemberLike], Sequence[str]]
) -> list[Target]:
    """The ordered, de-duplicated targets of ``members``.

    ``list_databases(member)`` names the databases of a server or elastic-pool member at this
    moment; it is called once per such member (excluded pools included, excluded servers not).
    Excluding a server removes every target on it; excluding a pool removes the databases now in
    it; excluding a database removes that one. Errors of ``list_databases`` propagate.
    """
    includes: dict[tuple[Any, ...], Target] = {}
    excluded_servers: set[tuple[str, str, int | None]] = set()
    excluded_databases: set[tuple[Any, ...]] = set()
    for member in members:
        engine = Engine.of(value_text(member.engine))
        target_type = value_text(member.target_type)
        found = _member_targets(member, engine, target_type, list_databases)
        if value_text(member.membership_type).lower() == "exclude":
            if target_type == "server":
                excluded_servers.add(
                    (engine, *_server_identity(engine, member.server_name, member.port))
                )
            excluded_databases.update(target.identity for target in found)
            continue
        for target in found:
            includes.setdefault(target.identity, target)
    return [
        target
        for identity, target in includes.items()
        if identity not in excluded_databases and identity[:3] not in excluded_servers
    ]


def _member_targets(
    member: MemberLike,
    engine: str,
    target_type: str,
    list_databases: Callable[[MemberLike], Sequence[str]],
) -> list[Target]:
    def target(database: str) -> Target:
        return Target(Engine.of(engine), member.server_name, member.port, database, member)

    if target_type == "database":
        if not member.database_name:
            raise ValidationFailed(
                "database_name", f"the database member on '{member.server_name}' names no database"
            )
        return [target(member.database_name)]
    if target_type == "server":
        if value_text(member.membership_type).lower() == "exclude":
            return []  # a whole excluded server needs no listing
        return [target(name) for name in list_databases(member)]
    if target_type == "elasticPool":
        return [target(name) for name in list_databases(member)]
    raise ValidationFailed("target_type", f"'{target_type}' members cannot be expanded")


def _server_identity(engine: str, server: str, port: int | None) -> tuple[str, int | None]:
    if engine == "sqlite":
        # A folder: same path spelled differently ("a/./b/", "a/b") is the same folder.
        return posixpath.normpath(server), None
    return server.strip().lower(), port or dialect_for(engine).default_port


def _db_key(engine: str, database: str) -> str:
    if engine == "sqlserver":
        return database.lower()
    if engine == "sqlite":
        return database.removesuffix(SqliteDialect.database_suffix)
    return database


def value_text(value: Any) -> str:
    """An enum member's value, or the value itself, as text ('' for None)."""
    if value is None:
        return ""
    return str(value.value if isinstance(value, Enum) else value)
