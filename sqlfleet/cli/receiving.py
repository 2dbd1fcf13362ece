"""PowerShell's ``Wait-Job`` and ``Receive-Job``: ``wait ID [ID...] [--any] [--timeout S]`` and
``receive ID [--keep] [--top N]``.

``wait`` exits 0 when every execution (``--any``: the first to end) ended well, 1 when one ended
Failed, TimedOut or Canceled, 3 when ``--timeout`` seconds (the whole wait, not one request)
passed first. A host that stops answering (a restart) is waited out until then.

``receive`` hands out the output of targets that ended and were not received yet, and marks it
received (``POST /api/executions/{id}/receive``); ``--keep`` reads without marking
(``GET /api/executions/{id}/output``, which never marks anything).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from sqlfleet.cli.client import ApiClient, ApiError, api_path
from sqlfleet.cli.executions import target_label, write_csv
from sqlfleet.cli.invocation import EXIT_FAILED, EXIT_OK, Invocation, exit_code_for
from sqlfleet.cli.output import lifecycle_text, make_table
from sqlfleet.cli.progress import watch_execution

EXIT_TIMEOUT = 3
RECEIVE_PAGE = 100
# While several executions are waited for, each long-poll waits this long for its execution.
_ROUND_WAIT_SECONDS = 1
# Between tries while the host does not answer (a restart).
_RETRY_SECONDS = 0.5


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    wait = nouns.add_parser(
        "wait",
        parents=[_options_without_timeout()],
        help="wait until executions end, with live progress for one (Wait-Job)",
    )
    wait.add_argument("execution", nargs="+", help="job execution id(s)")
    wait.add_argument("--any", action="store_true", help="until the first of them ends")
    wait.add_argument(
        "--timeout", dest="wait_timeout", type=float, metavar="SECONDS",
        help="give up after this many seconds in all (exit 3)",
    )  # fmt: skip
    wait.set_defaults(run=wait_command)

    receive = nouns.add_parser(
        "receive",
        parents=[common],
        help="output not received yet, marked received: result sets, messages (Receive-Job)",
    )
    receive.add_argument("execution")
    receive.add_argument("--step-id", type=int, help="only this step")
    receive.add_argument(
        "--keep", action="store_true", help="leave it unreceived (every target's output)"
    )
    receive.add_argument("--top", "--count", dest="top", type=int, metavar="N",
                         help="at most N targets' output")  # fmt: skip
    receive.add_argument("--format", choices=("table", "json", "csv"), default=None)
    receive.set_defaults(run=receive_command)


def _options_without_timeout() -> argparse.ArgumentParser:
    """The common options, whose ``--timeout`` (one request's) ``wait`` takes for the whole
    wait; the HTTP timeout is then given before the verb (``sqlfleet --timeout 30 wait``)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    group.add_argument("--url", default=argparse.SUPPRESS, help="SQL Fleet API base URL")
    group.add_argument("--key", default=argparse.SUPPRESS, help="function key")
    group.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON documents"
    )
    return parent


def wait_command(cli: Invocation) -> int:
    ids: list[str] = list(dict.fromkeys(cli.args.execution))
    timeout = cli.args.wait_timeout
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    if len(ids) == 1 and deadline is None and not cli.args.any:
        try:
            final = watch_execution(cli.client, ids[0], cli.output)
        except ApiError as error:
            if error.status is not None and error.status < 500:
                raise  # a 4xx (unknown execution); a host that stops answering is waited out
        else:
            if cli.json:
                cli.output.json(final)
            return exit_code_for(final["lifecycle"])
    ended = _wait(cli.client, ids, any_one=cli.args.any, deadline=deadline)
    waiting = [i for i in ids if i not in ended]
    done = [ended[i] for i in ids if i in ended]
    if cli.json:
        # One id: its whole document, as ``wait ID --json`` always answered.
        one = len(ids) == 1 and done
        cli.output.json(cli.client.get(api_path("executions", ids[0])) if one else done)
    elif len(ids) == 1 and done:
        watch_execution(cli.client, ids[0], cli.output)  # ended: prints its final view
    else:
        for execution in done:
            cli.output.line(
                f"{execution['job_execution_id']}  {execution['job_name']}  "
                f"{execution['lifecycle']}"
            )
    if waiting and not (cli.args.any and done):
        if not cli.json:
            cli.output.line(
                f"timed out after {timeout:g} s; still active: {', '.join(waiting)}",
                style="yellow",
            )
        return EXIT_TIMEOUT
    codes = [exit_code_for(execution["lifecycle"]) for execution in done]
    return EXIT_FAILED if EXIT_FAILED in codes else EXIT_OK


def _wait(
    client: ApiClient, ids: list[str], *, any_one: bool, deadline: float | None
) -> dict[str, dict[str, Any]]:
    """The executions of ``ids`` that ended (``any_one``: once one has), or those that ended
    when ``deadline`` passed. A host that does not answer is asked again until then; a 4xx
    (an unknown execution) raises."""
    versions: dict[str, str | None] = dict.fromkeys(ids)
    ended: dict[str, dict[str, Any]] = {}
    most = max(1, int(client.timeout) - 5)
    while True:
        for execution_id in [i for i in ids if i not in ended]:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return ended
            wait = _ROUND_WAIT_SECONDS if len(ids) - len(ended) > 1 else 25
            wait = max(1, min(wait, most, int(left) if left is not None else wait))
            query: dict[str, Any] = {"targets": False}
            if versions[execution_id]:
                query.update(since=versions[execution_id], wait=wait)
            try:
                execution = client.get(api_path("executions", execution_id), **query)
            except ApiError as error:
                if error.status is not None and error.status < 500:
                    raise
                time.sleep(_RETRY_SECONDS if left is None else min(_RETRY_SECONDS, left))
                continue
            versions[execution_id] = execution.get("version")
            if not execution["is_active"]:
                ended[execution_id] = execution
                if any_one:
                    return ended
        if len(ended) == len(ids):
            return ended


def receive_command(cli: Invocation) -> int:
    """POST /api/executions/{id}/receive until nothing is left to hand out (``--keep``: GET
    /api/executions/{id}/output, every page); ``--top`` bounds how many targets."""
    args = cli.args
    limit = args.top
    if args.keep:
        items = []
        for item in cli.client.paged_items(
            api_path("executions", args.execution, "output"),
            step_id=args.step_id,
            top=min(limit, 1000) if limit else None,
        ):
            items.append(item)
            if limit and len(items) >= limit:
                break
        more = None
    else:
        items, more = _receive(cli.client, args.execution, args.step_id, limit)
    form = args.format or ("json" if cli.json else "table")
    if form == "json":
        cli.output.json(items)
    elif form == "csv":
        write_csv(items, sys.stdout)
    else:
        show_outputs(cli, items)
        if more:
            cli.output.line("has_more_data: more output to receive", style="dim")
    return EXIT_OK


def _receive(
    client: ApiClient, execution_id: str, step_id: int | None, limit: int | None
) -> tuple[list[dict[str, Any]], bool]:
    items: list[dict[str, Any]] = []
    path = api_path("executions", execution_id, "receive")
    while True:
        want = RECEIVE_PAGE if limit is None else min(RECEIVE_PAGE, limit - len(items))
        page = client.post(path, step_id=step_id, top=want)
        items.extend(page["items"])
        more = bool(page.get("has_more_data"))
        if len(page["items"]) < want or (limit is not None and len(items) >= limit):
            return items, more


def show_outputs(cli: Invocation, items: list[dict[str, Any]]) -> None:
    if not items:
        cli.output.line("no output to receive (yet)")
    from rich.text import Text

    for item in items:
        target = item["target"]
        heading = Text.assemble(
            (f"step {target['step_id']} {target.get('step_name') or ''}", "bold"),
            f"  {target_label(target)}  ",
            lifecycle_text(target["lifecycle"]),
            f"  attempts {target.get('current_attempts')}",
        )
        cli.output.show(heading)
        for message in item.get("messages", []):
            cli.output.line(f"  [{message['attempt']}] {message['message']}", style="dim")
        error = item.get("error")
        if target.get("last_message") and target["lifecycle"] != "Succeeded":
            cli.output.line(f"  {target['last_message']}", style="red")
            if error:
                where = [f"{k} {error[k]}" for k in ("sqlstate", "number", "line") if error[k]]
                if where:
                    cli.output.line(f"  ({', '.join(where)})", style="red")
        sets = item.get("result_sets") or ([item["result"]] if item.get("result") else [])
        for index, result in enumerate(sets):
            if not result.get("columns"):
                continue
            if len(sets) > 1:
                cli.output.line(f"  result set {index + 1} of {len(sets)}", style="dim")
            columns = [column["name"] for column in result["columns"]]
            cli.output.show(make_table(columns, result["rows"]))
            if result.get("truncated"):
                cli.output.line(f"  (kept the first {result['row_count']} rows)", style="dim")
        if item.get("affected_rows"):
            counts = ", ".join(str(n) for n in item["affected_rows"])
            cli.output.line(f"  rows affected: {counts}", style="dim")
        cli.output.line()
