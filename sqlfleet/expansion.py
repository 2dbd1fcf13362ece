"""Target expansion with real listings: a group's members as the targets a step hits now."""

from __future__ import annotations

from typing import Any

from sqlfleet import odbc
from sqlfleet.connections import member_auth
from sqlfleet.models.executions import TargetSpec
from sqlfleet.models.targets import Engine
from sqlfleet.runtime import job_store, settings, sqlite_folders
from sqlfleet.targets import Target, expand_targets, value_text


def resolve_targets(group_name: str) -> list[TargetSpec]:
    """The targets a step on ``group_name`` would hit right now (also the API's preview)."""
    store = job_store()
    group = store.get_target_group(group_name)
    listings: dict[int, list[str]] = {}
    origin: dict[tuple[Any, ...], Any] = {}

    def list_databases(member: Any) -> list[str]:
        if id(member) not in listings:
            auth = member_auth(store, member)
            listings[id(member)] = odbc.list_databases(
                member,
                auth,
                settings().odbc_driver(member.engine),
                sqlite_folders=sqlite_folders(),
            )
        names_found = listings[id(member)]
        for name in names_found:
            key = Target(value_text(member.engine), member.server_name, member.port, name).identity
            origin.setdefault(key, member)
        return names_found

    targets = expand_targets(group.members, list_databases)
    specs = []
    for target in targets:
        member = origin.get(target.identity) or _database_member(group.members, target)
        specs.append(
            TargetSpec(
                target_type=value_text(member.target_type) if member else "database",
                target_id=getattr(member, "target_id", None),
                engine=Engine(target.engine),
                server_name=target.server,
                port=target.port,
                database_name=target.database,
                elastic_pool_name=getattr(member, "elastic_pool_name", None) if member else None,
            )
        )
    return specs


def _database_member(members: Any, target: Target) -> Any:
    for member in members:
        if value_text(member.target_type) == "database" and (
            Target(
                value_text(member.engine),
                member.server_name,
                member.port,
                member.database_name or "",
            ).identity
            == target.identity
        ):
            return member
    return None
