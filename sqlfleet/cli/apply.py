"""``sqlfleet apply -f fleet.yaml [--dry-run] [--prune] [--update-secrets]``.

Reads the fleet file, asks the API what it holds, prints what it will create, change and delete,
and does it (unless ``--dry-run``). Applying the same file twice changes nothing.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.text import Text

from sqlfleet.cli.client import ApiClient, api_path
from sqlfleet.cli.invocation import EXIT_OK, Invocation
from sqlfleet.cli.output import Output, make_table

if TYPE_CHECKING:
    from sqlfleet.fleetfile import Change, Fleet, Plan

RESOURCES = {"credential": "credentials", "target group": "target-groups", "job": "jobs"}
SYMBOLS = {
    "create": ("+", "green"),
    "change": ("~", "yellow"),
    "delete": ("-", "red"),
    "unchanged": ("=", "dim"),
}


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    apply = nouns.add_parser(
        "apply",
        parents=[common],
        help="create/change (and with --prune delete) definitions from a fleet file",
        description="Make the API hold the credentials, target groups and jobs of a fleet file.",
    )
    apply.add_argument("-f", "--file", required=True, help="the fleet file (YAML)")
    apply.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    apply.add_argument(
        "--prune", action="store_true", help="delete objects the file does not declare"
    )
    apply.add_argument(
        "--update-secrets",
        action="store_true",
        help="re-send passwords (they cannot be read back, so they are not compared)",
    )
    apply.set_defaults(run=apply_command)


def apply_command(cli: Invocation) -> int:
    """Load, plan, print, apply. Raises ``FleetFileError`` (exit 2) and ``ApiError``."""
    from sqlfleet.fleetfile import load_fleet  # pydantic models load only for the verbs using them

    args = cli.args
    fleet = load_fleet(args.file)
    plan = apply_fleet(
        cli.client,
        fleet,
        prune=args.prune,
        update_secrets=args.update_secrets,
        dry_run=args.dry_run,
        output=cli.output,
    )
    if cli.json:
        cli.output.json(
            {
                "file": args.file,
                "dry_run": args.dry_run,
                "changes": [change.to_json() for change in plan.changes],
                "summary": {a: plan.count(a) for a in ("create", "change", "delete", "unchanged")},
            }
        )
    return EXIT_OK


def apply_fleet(
    client: ApiClient,
    fleet: Fleet,
    *,
    prune: bool = False,
    update_secrets: bool = False,
    dry_run: bool = False,
    output: Output | None = None,
) -> Plan:
    """Plan ``fleet`` against the API and, unless ``dry_run``, apply it; prints the plan to
    ``output`` (unless it is in JSON mode). Raises ``FleetFileError`` / ``ApiError``."""
    from sqlfleet.fleetfile import plan_changes

    plan = plan_changes(
        fleet,
        client.items(api_path("credentials")),
        client.items(api_path("target-groups")),
        client.items(api_path("jobs")),
        prune=prune,
        update_secrets=update_secrets,
    )
    if output is not None and not output.json_mode:
        output.show(plan_table(plan))
    if not dry_run:
        for change in plan.pending:
            _apply_change(client, change)
    if output is not None and not output.json_mode:
        if dry_run:
            output.line(f"dry run: {plan.summary()}; nothing was changed")
        elif plan.pending:
            output.line(f"applied {fleet.source}: {plan.summary()}")
        else:
            output.line(f"{fleet.source}: no changes ({plan.count('unchanged')} unchanged)")
    return plan


def _apply_change(client: ApiClient, change: Change) -> None:
    path = api_path(RESOURCES[change.kind], change.name)
    if change.action == "delete":
        client.delete(path)
    else:
        client.put(path, change.document)


def plan_table(plan: Plan) -> Any:
    rows = []
    for change in plan.changes:
        symbol, style = SYMBOLS[change.action]
        rows.append(
            (
                Text(symbol, style=style),
                change.kind,
                change.name,
                Text(change.action, style=style),
                ", ".join(change.fields),
            )
        )
    return make_table(("", "kind", "name", "action", "what differs"), rows)
