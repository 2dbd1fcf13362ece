"""Target expansion with real listings: a group's members as the targets a step hits now."""

from __future__ import annotations

from typing import Any

from sqlfleet import odbc
from sqlfleet.connections import member_auth
from sqlfleet.models.executions import TargetSpec
from sqlfleet.runtime import job_store, settings, sqlite_folders
from sqlfleet.targets import expand_targets, value_text


def resolve_targets(group_name: str) -> list[TargetSpec]:
    """The targets a step on ``group_name`` would hit right now (also the API's preview), each
    with the member it was reached through."""
    store = job_store()
    group = store.get_target_group(group_name)

    def list_databases(member: Any) -> list[str]:
        return odbc.list_databases(
            member,
            member_auth(store, member),
            settings().odbc_driver(member.engine),
            sqlite_folders=sqlite_folders(),
        )

    return [
        TargetSpec(
            target_type=value_text(target.origin.target_type),
            target_id=getattr(target.origin, "target_id", None),
            engine=target.engine,
            server_name=target.server,
            port=target.port,
            database_name=target.database,
            elastic_pool_name=getattr(target.origin, "elastic_pool_name", None),
        )
        for target in expand_targets(group.members, list_databases)
    ]
