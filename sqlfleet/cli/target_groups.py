"""``sqlfleet target-groups ...`` and ``sqlfleet members ...``.

Mirrors sp_add_target_group / sp_add_target_group_member and Add-AzSqlElasticJobTarget:
``--target-type`` takes SQL Fleet's names (server, elasticPool, database) or Elastic Jobs' own
(SqlServer, SqlElasticPool, SqlDatabase); ``--exclude`` is ``@membership_type = 'Exclude'``.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlfleet.cli.client import api_path
from sqlfleet.cli.invocation import EXIT_OK, Invocation, UsageError, count_options, first
from sqlfleet.cli.output import make_fields_table, make_table
from sqlfleet.engine import ENGINE_NAMES

TARGET_TYPES = {
    "server": "server",
    "sqlserver": "server",
    "elasticpool": "elasticPool",
    "sqlelasticpool": "elasticPool",
    "database": "database",
    "sqldatabase": "database",
}
MEMBER_COLUMNS = (
    "target_id",
    "membership",
    "type",
    "engine",
    "server",
    "database / pool",
    "refresh credential",
)


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    groups = nouns.add_parser(
        "target-groups",
        aliases=["target-group", "groups"],
        help="named sets of servers, pools and databases",
    )
    verbs = groups.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser(
        "list", parents=[common, count_options()], help="list target groups"
    ).set_defaults(run=list_groups)
    show = verbs.add_parser("show", parents=[common], help="show a group and its members")
    show.add_argument("name")
    show.set_defaults(run=show_group)
    create = verbs.add_parser("create", parents=[common], help="create an empty target group")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.set_defaults(run=create_group)
    delete = verbs.add_parser("delete", parents=[common], help="delete a target group")
    delete.add_argument("name")
    delete.set_defaults(run=delete_group)
    preview = verbs.add_parser(
        "preview",
        parents=[common],
        help="the databases the group expands to right now (dry run)",
    )
    preview.add_argument("name")
    preview.set_defaults(run=preview_group)

    members = nouns.add_parser("members", aliases=["member"], help="members of a target group")
    member_verbs = members.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = member_verbs.add_parser(
        "list", parents=[common, count_options()], help="list a group's members"
    )
    listing.add_argument("group")
    listing.set_defaults(run=list_members)
    add = member_verbs.add_parser(
        "add",
        aliases=["create"],
        parents=[common],
        help="add a member (sp_add_target_group_member, Add-AzSqlElasticJobTarget)",
    )
    add.add_argument("group")
    add.add_argument(
        "--target-type",
        required=True,
        type=_target_type,
        metavar="TYPE",
        help="server | elasticPool | database (or SqlServer | SqlElasticPool | SqlDatabase)",
    )
    add.add_argument("--server-name", required=True, help="server host name; sqlite: a folder")
    add.add_argument("--database-name", help="for database members")
    add.add_argument("--elastic-pool-name", help="for elasticPool members")
    add.add_argument(
        "--refresh-credential",
        dest="refresh_credential_name",
        metavar="NAME",
        help="credential that lists the databases of a server or pool",
    )
    add.add_argument("--engine", choices=ENGINE_NAMES, default=None, help="default sqlserver")
    add.add_argument("--port", type=int)
    add.add_argument(
        "--exclude", action="store_true", help="exclude instead of include (membership_type)"
    )
    add.set_defaults(run=add_member)
    remove = member_verbs.add_parser(
        "delete", aliases=["remove"], parents=[common], help="remove a member by its target_id"
    )
    remove.add_argument("group")
    remove.add_argument("target_id")
    remove.set_defaults(run=delete_member)


def _target_type(value: str) -> str:
    try:
        return TARGET_TYPES[value.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a target type; use server, elasticPool or database"
        ) from None


def list_groups(cli: Invocation) -> int:
    groups = first(cli.client.items(api_path("target-groups")), cli.args)
    if cli.json:
        cli.output.json(groups)
        return EXIT_OK
    rows = [
        (g["name"], _member_summary(g.get("members", [])), g.get("description")) for g in groups
    ]
    cli.output.show(make_table(("name", "members", "description"), rows))
    return EXIT_OK


def show_group(cli: Invocation) -> int:
    group = cli.client.get(api_path("target-groups", cli.args.name))
    if cli.json:
        cli.output.json(group)
        return EXIT_OK
    cli.output.show(
        make_fields_table(
            [
                ("name", group["name"]),
                ("target_group_id", group["target_group_id"]),
                ("description", group.get("description")),
            ]
        )
    )
    cli.output.show(member_table(group.get("members", [])))
    return EXIT_OK


def create_group(cli: Invocation) -> int:
    path = api_path("target-groups", cli.args.name)
    if cli.client.exists(path):
        raise UsageError(f"target group '{cli.args.name}' already exists")
    group = cli.client.put(path, {"description": cli.args.description, "members": []})
    if cli.json:
        cli.output.json(group)
    else:
        cli.output.line(
            f"target group '{group['name']}' created; add members with "
            f"'sqlfleet members add {group['name']} ...'"
        )
    return EXIT_OK


def delete_group(cli: Invocation) -> int:
    cli.client.delete(api_path("target-groups", cli.args.name))
    if cli.json:
        cli.output.json({"name": cli.args.name, "deleted": True})
    else:
        cli.output.line(f"target group '{cli.args.name}' deleted")
    return EXIT_OK


def preview_group(cli: Invocation) -> int:
    """POST /api/target-groups/{name}/preview: expand the members now, run nothing."""
    items = cli.client.post(api_path("target-groups", cli.args.name, "preview"))["items"]
    if cli.json:
        cli.output.json(items)
        return EXIT_OK
    rows = [(t["engine"], t["server_name"], t.get("port"), t.get("database_name")) for t in items]
    title = f"target group '{cli.args.name}' expands to {len(items)} database(s)"
    cli.output.show(make_table(("engine", "server", "port", "database"), rows, title=title))
    return EXIT_OK


def list_members(cli: Invocation) -> int:
    members = first(
        cli.client.items(api_path("target-groups", cli.args.group, "members")), cli.args
    )
    if cli.json:
        cli.output.json(members)
    else:
        cli.output.show(member_table(members))
    return EXIT_OK


def add_member(cli: Invocation) -> int:
    args = cli.args
    document: dict[str, Any] = {
        "target_type": args.target_type,
        "server_name": args.server_name,
        "membership_type": "exclude" if args.exclude else "include",
    }
    for name in ("database_name", "elastic_pool_name", "refresh_credential_name", "engine", "port"):
        if getattr(args, name) is not None:
            document[name] = getattr(args, name)
    member = cli.client.post(api_path("target-groups", args.group, "members"), document)
    if cli.json:
        cli.output.json(member)
    else:
        cli.output.line(
            f"{member['membership_type']} {member['target_type']} member added to "
            f"'{args.group}' (target_id {member['target_id']})"
        )
    return EXIT_OK


def delete_member(cli: Invocation) -> int:
    cli.client.delete(api_path("target-groups", cli.args.group, "members", cli.args.target_id))
    if cli.json:
        cli.output.json({"target_id": cli.args.target_id, "deleted": True})
    else:
        cli.output.line(f"member {cli.args.target_id} removed from '{cli.args.group}'")
    return EXIT_OK


def member_table(members: list[dict[str, Any]]) -> Any:
    rows = [
        (
            m["target_id"],
            m["membership_type"],
            m["target_type"],
            m["engine"],
            m["server_name"] + (f":{m['port']}" if m.get("port") else ""),
            m.get("database_name") or m.get("elastic_pool_name"),
            m.get("refresh_credential_name"),
        )
        for m in members
    ]
    return make_table(MEMBER_COLUMNS, rows)


def _member_summary(members: list[dict[str, Any]]) -> str:
    parts = []
    for m in members:
        what = m.get("database_name") or m.get("elastic_pool_name") or "*"
        sign = "-" if m["membership_type"] == "exclude" else "+"
        parts.append(f"{sign}{m['target_type']} {m['server_name']}/{what}")
    return ", ".join(parts)
