"""``sqlfleet run``: a command run now on a target group or on databases given by address
(``POST /api/runs``), like PowerShell's ``Start-Job -ScriptBlock`` / ``Invoke-Command -AsJob
-ThrottleLimit``, without a job definition to maintain.

``--database`` takes ``ENGINE://SERVER[:PORT]/DATABASE`` (engines ``sqlserver``,
``postgresql``, ``mysql``) or ``sqlite:///FOLDER/NAME.db`` (a SQLite file of the host).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlfleet.cli.client import api_path
from sqlfleet.cli.executions import show_started
from sqlfleet.cli.invocation import EXIT_OK, Invocation, UsageError, exit_code_for
from sqlfleet.cli.parameters import add_value_options, typed_values
from sqlfleet.cli.progress import watch_execution
from sqlfleet.engine import ENGINE_NAMES

_ENGINE_ALIASES = {"mssql": "sqlserver", "postgres": "postgresql", "mariadb": "mysql"}


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    run = nouns.add_parser(
        "run",
        parents=[common],
        help="run a command now, without a job (Start-Job -ScriptBlock, Invoke-Command -AsJob)",
        description="Run SQL now on a target group or on databases, as an execution with "
        "retries, timeout, output, receive, stop and remove; listed among executions under "
        "its --name.",
    )
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument("--target-group", metavar="G", help="the target group to run on")
    where.add_argument(
        "--database",
        action="append",
        metavar="ENGINE://SERVER[:PORT]/DB",
        help="a database to run on (repeatable), e.g. postgresql://127.0.0.1:5432/tenant1 or "
        "sqlite:///srv/fleet/db1.db",
    )
    run.add_argument("--credential", metavar="C", help="the credential that signs in")
    what = run.add_mutually_exclusive_group(required=True)
    what.add_argument("--command", metavar="SQL", help="the SQL to run")
    what.add_argument("--file", metavar="PATH", help="read the SQL from PATH ('-': stdin)")
    run.add_argument("--name", help="the run's name among executions (default run-<id>)")
    run.add_argument("--max-parallelism", type=int, metavar="K", help="targets at a time")
    run.add_argument("--retry-attempts", type=int, metavar="N", help="default 0")
    run.add_argument("--step-timeout-seconds", type=int, metavar="S", help="default 43200")
    add_value_options(run, typed=True)
    run.add_argument(
        "--secret-parameter",
        action="append",
        default=[],
        metavar="NAME",
        help="a parameter whose value is never shown (repeatable)",
    )
    run.add_argument("--wait", action="store_true", help="show progress until it ends")
    run.add_argument(
        "-q", "--quiet", action="store_true", help="print only the execution id (for scripts)"
    )
    run.set_defaults(run=run_command)


def run_command(cli: Invocation) -> int:
    """POST /api/runs; with ``--wait`` follow the execution to its end."""
    args = cli.args
    document: dict[str, Any] = {"command": _command(args)}
    if args.target_group:
        document["target_group_name"] = args.target_group
    else:
        document["members"] = [database_member(url) for url in args.database]
    for option, key in (
        ("credential", "credential_name"),
        ("name", "name"),
        ("max_parallelism", "max_parallelism"),
        ("retry_attempts", "retry_attempts"),
        ("step_timeout_seconds", "step_timeout_seconds"),
    ):
        if getattr(args, option) is not None:
            document[key] = getattr(args, option)
    values = typed_values(args)
    if values:
        document["parameters"] = {name: value for name, (_, value) in values.items()}
        types = {name: kind for name, (kind, _) in values.items() if kind}
        if types:
            document["parameter_types"] = types
    if args.secret_parameter:
        document["secret_parameters"] = args.secret_parameter
    started = cli.client.post(api_path("runs"), document)
    execution_id = started["job_execution_id"]
    if not args.wait:
        if args.quiet and not cli.json:
            cli.output.line(execution_id)
        elif cli.json:
            cli.output.json(started)
        else:
            show_started(cli, started)
        return EXIT_OK
    if not cli.json and not args.quiet:
        cli.output.line(f"started run {started['job_name']}: execution {execution_id}")
    final = watch_execution(cli.client, execution_id, cli.output)
    if cli.json:
        cli.output.json(final)
    return exit_code_for(final["lifecycle"])


def _command(args: argparse.Namespace) -> str:
    if args.command is not None:
        return str(args.command)
    if args.file == "-":
        return sys.stdin.read()
    try:
        return Path(args.file).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"--file {args.file}: {error.strerror or error}") from None


def database_member(url: str) -> dict[str, Any]:
    """The target group member (a database) of a ``--database`` URL."""
    parts = urlsplit(url)
    engine = _ENGINE_ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    if engine not in ENGINE_NAMES:
        raise UsageError(
            f"--database {url!r}: expected ENGINE://SERVER[:PORT]/DATABASE with ENGINE one of "
            + ", ".join(ENGINE_NAMES)
        )
    if engine == "sqlite":
        path = Path(unquote(parts.netloc + parts.path))
        if path.suffix != ".db" or not path.name[:-3]:
            raise UsageError(f"--database {url!r}: expected sqlite:///FOLDER/NAME.db")
        folder = path.parent.absolute()
        return {"target_type": "database", "engine": "sqlite", "server_name": str(folder),
                "database_name": path.name[:-3]}  # fmt: skip
    database = unquote(parts.path.lstrip("/"))
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"--database {url!r}: the port is not a number") from None
    if not parts.hostname or not database or "/" in database:
        raise UsageError(f"--database {url!r}: expected {engine}://SERVER[:PORT]/DATABASE")
    member: dict[str, Any] = {"target_type": "database", "engine": engine,
                              "server_name": parts.hostname, "database_name": database}  # fmt: skip
    if port is not None:
        member["port"] = port
    return member
