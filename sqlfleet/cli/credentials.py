"""``sqlfleet credentials list|show|create|delete`` (sp_*_credential, *-AzSqlElasticJobCredential).

Passwords never appear on the command line (where ``ps`` would show them): they come from an
environment variable (``--password-env``), stdin (``--password-stdin``) or a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from sqlfleet.cli.client import api_path
from sqlfleet.cli.invocation import EXIT_OK, Invocation, UsageError, count_options, first
from sqlfleet.cli.output import format_time, make_fields_table, make_table

KINDS = {"password": "password", "keyvault": "keyVault", "managedidentity": "managedIdentity"}


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    parser = nouns.add_parser(
        "credentials",
        aliases=["credential"],
        help="how SQL Fleet signs in to targets",
        description="Credentials: password (encrypted at rest), keyVault or managedIdentity.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    verbs.add_parser(
        "list", parents=[common, count_options()], help="list credentials"
    ).set_defaults(run=list_credentials)
    show = verbs.add_parser("show", parents=[common], help="show one credential (never a secret)")
    show.add_argument("name")
    show.set_defaults(run=show_credential)

    create = verbs.add_parser(
        "create", parents=[common], help="create a credential (New-AzSqlElasticJobCredential)"
    )
    create.add_argument("name")
    create.add_argument(
        "--kind",
        required=True,
        type=str.lower,
        choices=sorted(KINDS),
        help="password | keyVault | managedIdentity",
    )
    create.add_argument("--username", help="login / user name on the targets")
    source = create.add_mutually_exclusive_group()
    source.add_argument(
        "--password-env", metavar="VAR", help="read the password from environment variable VAR"
    )
    source.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    source.add_argument(
        "--empty-password",
        action="store_true",
        help="a login without a password (a local server's); never assumed",
    )
    create.add_argument(
        "--secret-uri",
        help="Key Vault secret URI holding the password (kind keyVault), "
        "e.g. https://myvault.vault.azure.net/secrets/sql-password",
    )
    create.add_argument("--client-id", help="user-assigned managed identity client id")
    create.add_argument("--description", default="")
    create.add_argument(
        "--replace", action="store_true", help="replace the credential if it exists"
    )
    create.set_defaults(run=create_credential)

    delete = verbs.add_parser("delete", parents=[common], help="delete an unused credential")
    delete.add_argument("name")
    delete.set_defaults(run=delete_credential)


def list_credentials(cli: Invocation) -> int:
    """Print every credential. Raises ``ApiError``."""
    items = first(cli.client.items(api_path("credentials")), cli.args)
    if cli.json:
        cli.output.json(items)
        return EXIT_OK
    rows = [
        (c["name"], c["kind"], c.get("username"), _secret(c), c.get("description")) for c in items
    ]
    cli.output.show(make_table(("name", "kind", "username", "secret", "description"), rows))
    return EXIT_OK


def show_credential(cli: Invocation) -> int:
    credential = cli.client.get(api_path("credentials", cli.args.name))
    if cli.json:
        cli.output.json(credential)
        return EXIT_OK
    cli.output.show(
        make_fields_table(
            [
                ("name", credential["name"]),
                ("credential_id", credential["credential_id"]),
                ("kind", credential["kind"]),
                ("username", credential.get("username")),
                ("secret", _secret(credential)),
                ("client_id", credential.get("client_id")),
                ("description", credential.get("description")),
                ("created", format_time(credential.get("created_time"))),
                ("modified", format_time(credential.get("modified_time"))),
            ]
        )
    )
    return EXIT_OK


def create_credential(cli: Invocation) -> int:
    """PUT /api/credentials/{name}; refuses an existing name unless ``--replace``."""
    args = cli.args
    kind = KINDS[args.kind]
    document: dict[str, Any] = {"kind": kind, "description": args.description}
    if args.username is not None:
        document["username"] = args.username
    if args.secret_uri is not None:
        document["secret_uri"] = args.secret_uri
    if args.client_id is not None:
        document["client_id"] = args.client_id
    if kind == "password" and args.empty_password:
        document["empty_password"] = True
    elif kind == "password":
        document["password"] = read_password(args)
    elif args.password_env or args.password_stdin or args.empty_password:
        raise UsageError(f"a {kind} credential takes no password; leave out --password-*")
    path = api_path("credentials", args.name)
    if not args.replace and cli.client.exists(path):
        raise UsageError(f"credential '{args.name}' already exists; add --replace to replace it")
    credential = cli.client.put(path, document)
    if cli.json:
        cli.output.json(credential)
    else:
        cli.output.line(f"credential '{credential['name']}' ({credential['kind']}) saved")
    return EXIT_OK


def delete_credential(cli: Invocation) -> int:
    cli.client.delete(api_path("credentials", cli.args.name))
    if cli.json:
        cli.output.json({"name": cli.args.name, "deleted": True})
    else:
        cli.output.line(f"credential '{cli.args.name}' deleted")
    return EXIT_OK


def read_password(args: argparse.Namespace) -> str:
    """The password from ``--password-env``, ``--password-stdin`` or a prompt on a terminal."""
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise UsageError(f"environment variable {args.password_env} is not set or empty")
        return value
    if args.password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise UsageError("--password-stdin read an empty line")
        return value
    if sys.stdin.isatty():
        value = getpass.getpass("password: ")
        if value:
            return value
    raise UsageError("a password credential needs --password-env VAR or --password-stdin")


def _secret(credential: dict[str, Any]) -> str:
    if credential.get("secret_uri"):
        return str(credential["secret_uri"])
    if credential.get("has_secret"):
        return "(stored, encrypted)"
    return ""
