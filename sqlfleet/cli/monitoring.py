"""``sqlfleet rerun`` (the failed targets of an execution, as a new execution) and
``sqlfleet ui`` (the address of the monitoring page)."""

from __future__ import annotations

import argparse
import webbrowser
from typing import Any
from urllib.parse import quote

from sqlfleet.cli.client import api_path
from sqlfleet.cli.executions import LIFECYCLES, show_started
from sqlfleet.cli.invocation import EXIT_OK, Invocation, UsageError, exit_code_for
from sqlfleet.cli.progress import watch_execution

DEFAULT_RERUN = ("Failed", "TimedOut")
NOT_SUCCEEDED = ("Failed", "TimedOut", "Canceled", "Skipped")


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    rerun = nouns.add_parser(
        "rerun",
        parents=[common],
        help="run an ended execution's failed targets again, as a new execution",
        description="A new execution of the same job version on only the targets of EXECUTION "
        "that ended Failed or TimedOut (or in the --lifecycle given), recorded as its rerun.",
    )
    rerun.add_argument("execution")
    rerun.add_argument(
        "--lifecycle",
        default=",".join(DEFAULT_RERUN),
        metavar="LIST",
        help="comma-separated lifecycles whose targets run again (default Failed,TimedOut; "
        "'not-succeeded' means Failed,TimedOut,Canceled,Skipped)",
    )
    rerun.add_argument("--wait", action="store_true", help="show progress until it ends")
    rerun.add_argument("--quiet", "-q", action="store_true", help="print only the new id")
    rerun.set_defaults(run=rerun_command)

    ui = nouns.add_parser(
        "ui",
        parents=[common],
        help="the monitoring page's address (with the key in its #fragment)",
    )
    ui.add_argument("--open", action="store_true", help="open it in the default browser")
    ui.add_argument(
        "--no-key", action="store_true", help="leave the key out (the page then asks for it)"
    )
    ui.set_defaults(run=ui_command)


def rerun_lifecycles(text: str) -> list[str]:
    """``--lifecycle``'s list. Raises ``UsageError`` naming a value that is no lifecycle."""
    wanted: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        names = NOT_SUCCEEDED if item.lower() == "not-succeeded" else (item,)
        for name in names:
            match = next((known for known in LIFECYCLES if known.lower() == name.lower()), None)
            if match is None:
                raise UsageError(
                    f"--lifecycle: '{name}' is not a lifecycle; expected a list of "
                    f"{', '.join(LIFECYCLES)} (or not-succeeded)"
                )
            wanted.append(match)
    if not wanted:
        raise UsageError("--lifecycle: name at least one lifecycle, e.g. Failed,TimedOut")
    return list(dict.fromkeys(wanted))


def rerun_command(cli: Invocation) -> int:
    """POST /api/executions/{id}/rerun; with ``--wait`` follow the new execution to its end."""
    lifecycles = rerun_lifecycles(cli.args.lifecycle)
    started = cli.client.post(
        api_path("executions", cli.args.execution, "rerun"), {"lifecycles": lifecycles}
    )
    execution_id = started["job_execution_id"]
    if not cli.args.wait:
        if cli.args.quiet and not cli.json:
            cli.output.line(execution_id)
        elif cli.json:
            cli.output.json(started)
        else:
            cli.args.job = started.get("job_name", "")
            show_started(cli, started)
        return EXIT_OK
    if not cli.json and not cli.args.quiet:
        cli.output.line(
            f"rerun of {cli.args.execution} ({', '.join(lifecycles)}): execution {execution_id}"
        )
    final = watch_execution(cli.client, execution_id, cli.output)
    if cli.json:
        cli.output.json(final)
    return exit_code_for(final["lifecycle"])


def ui_command(cli: Invocation) -> int:
    """Print (or open) ``<url>/api/ui/``, with ``#key=`` when a key is known: browsers never
    send a fragment, and the page moves the key into the tab's session storage at once."""
    client = cli.client
    address = client.base_url + "/api/ui/"
    key = None if cli.args.no_key else client.key
    link = address + (f"#key={quote(key, safe='')}" if key else "")
    if cli.json:
        cli.output.json({"url": address, "link": link})
    else:
        cli.output.line(link)
    if cli.args.open:
        webbrowser.open(link)
    return EXIT_OK
