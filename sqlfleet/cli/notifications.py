"""``sqlfleet notifications ...``: a job's notification rules and an execution's deliveries.

``add`` puts one rule (replacing the job's rule of the same name): ``--webhook URL
--secret-credential NAME`` or ``--email TO ... --from ADDR --smtp-server HOST``; ``--on`` the
lifecycles (default Failed,TimedOut). ``deliveries EXECUTION`` lists where each notification
of an execution went and how its tries ended.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlfleet.cli.client import api_path
from sqlfleet.cli.invocation import EXIT_OK, Invocation, UsageError
from sqlfleet.cli.output import format_time, make_table

DEFAULT_LIFECYCLES = "Failed,TimedOut"


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    noun = nouns.add_parser(
        "notifications", aliases=["notification"], help="webhooks and e-mail when jobs end"
    )
    verbs = noun.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", parents=[common], help="list a job's rules")
    listing.add_argument("job")
    listing.set_defaults(run=list_rules)
    add = verbs.add_parser(
        "add", parents=[common], help="add a rule to a job (or replace the rule of that name)"
    )
    add.add_argument("job")
    add.add_argument("rule", help="the rule's name")
    add.add_argument(
        "--on",
        default=DEFAULT_LIFECYCLES,
        help="lifecycles that fire it, comma-separated: Failed, TimedOut, Canceled, "
        f"SucceededWithSkipped, Succeeded (default {DEFAULT_LIFECYCLES})",
    )
    hook = add.add_argument_group("webhook")
    hook.add_argument("--webhook", metavar="URL", help="POST the execution summary here")
    hook.add_argument(
        "--secret-credential", metavar="NAME", help="credential whose password signs requests"
    )
    mail = add.add_argument_group("e-mail")
    mail.add_argument("--email", metavar="ADDRESS", action="append", help="a recipient")
    mail.add_argument("--from", dest="from_address", metavar="ADDRESS", help="the sender")
    mail.add_argument("--smtp-server", metavar="HOST")
    mail.add_argument("--smtp-port", type=int, metavar="PORT")
    mail.add_argument("--smtp-security", choices=("starttls", "tls", "none"))
    mail.add_argument(
        "--smtp-credential", metavar="NAME", help="credential whose user and password sign in"
    )
    add.set_defaults(run=add_rule)
    delete = verbs.add_parser("delete", parents=[common], help="delete a job's rule")
    delete.add_argument("job")
    delete.add_argument("rule")
    delete.set_defaults(run=delete_rule)
    deliveries = verbs.add_parser(
        "deliveries", parents=[common], help="the notifications of an execution and their tries"
    )
    deliveries.add_argument("execution")
    deliveries.set_defaults(run=list_deliveries)


def _rules(cli: Invocation) -> list[dict[str, Any]]:
    body = cli.client.get(api_path("jobs", cli.args.job, "notifications"))
    return list(body.get("notifications", []))


def _show_rules(cli: Invocation, rules: list[dict[str, Any]]) -> None:
    if cli.json:
        cli.output.json(rules)
        return
    rows = [
        (
            rule["name"],
            ",".join(rule["lifecycles"]),
            rule["channel"],
            rule.get("url") or ", ".join(rule.get("to") or []),
            rule.get("secret_credential_name") or rule.get("smtp_credential_name"),
        )
        for rule in rules
    ]
    cli.output.show(make_table(("rule", "on", "channel", "to", "credential"), rows))


def list_rules(cli: Invocation) -> int:
    _show_rules(cli, _rules(cli))
    return EXIT_OK


def _rule_from(args: argparse.Namespace) -> dict[str, Any]:
    lifecycles = [part.strip() for part in args.on.split(",") if part.strip()]
    if args.webhook and args.email:
        raise UsageError("give --webhook or --email, not both")
    if args.webhook:
        rule = {"channel": "webhook", "url": args.webhook}
        if args.secret_credential:
            rule["secret_credential_name"] = args.secret_credential
        mail_options = ("from_address", "smtp_server", "smtp_port", "smtp_credential")
        used = [name for name in mail_options if getattr(args, name) is not None]
        if used:
            raise UsageError(f"--{used[0].replace('_', '-')} applies to --email rules only")
        return {"name": args.rule, "lifecycles": lifecycles, **rule}
    if args.email:
        if args.secret_credential:
            raise UsageError("--secret-credential applies to --webhook rules only")
        fields = {
            "channel": "email",
            "to": args.email,
            "from_address": args.from_address,
            "smtp_server": args.smtp_server,
            "smtp_port": args.smtp_port,
            "smtp_security": args.smtp_security,
            "smtp_credential_name": args.smtp_credential,
        }
        return {
            "name": args.rule,
            "lifecycles": lifecycles,
            **{k: v for k, v in fields.items() if v is not None},
        }
    raise UsageError("give --webhook URL or --email ADDRESS")


def add_rule(cli: Invocation) -> int:
    rule = _rule_from(cli.args)
    rules = [r for r in _rules(cli) if r["name"] != cli.args.rule] + [rule]
    answer = cli.client.put(
        api_path("jobs", cli.args.job, "notifications"), {"notifications": rules}
    )
    _show_rules(cli, list(answer["notifications"]))
    return EXIT_OK


def delete_rule(cli: Invocation) -> int:
    rules = _rules(cli)
    kept = [r for r in rules if r["name"] != cli.args.rule]
    if len(kept) == len(rules):
        raise UsageError(f"job '{cli.args.job}' has no notification rule '{cli.args.rule}'")
    answer = cli.client.put(
        api_path("jobs", cli.args.job, "notifications"), {"notifications": kept}
    )
    _show_rules(cli, list(answer["notifications"]))
    return EXIT_OK


def list_deliveries(cli: Invocation) -> int:
    items = cli.client.items(api_path("executions", cli.args.execution, "notifications"))
    if cli.json:
        cli.output.json(items)
        return EXIT_OK
    rows = [
        (
            d["rule_name"],
            d["channel"],
            d["destination"],
            d["status"],
            f"{d['attempts']}/{d['max_attempts']}",
            d.get("last_status_code"),
            format_time(d.get("delivered_time") or d.get("next_attempt_time")),
            d.get("last_error"),
        )
        for d in items
    ]
    cli.output.show(
        make_table(
            ("rule", "channel", "to", "status", "tries", "code", "delivered/next", "error"), rows
        )
    )
    return EXIT_OK
