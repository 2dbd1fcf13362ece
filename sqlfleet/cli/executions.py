"""The PowerShell-jobs verbs: ``start [--wait]``, ``get``, ``wait``, ``receive``, ``stop``,
``remove``, and ``executions`` (Get-AzSqlElasticJobExecution's filters).

``get EXECUTION``, ``wait`` and ``start --wait`` exit 1 when the execution ended Failed,
TimedOut or Canceled, so scripts and CI can gate on them.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import PurePosixPath
from typing import Any

from sqlfleet.cli.client import ApiClient, api_path
from sqlfleet.cli.invocation import EXIT_OK, Invocation, UsageError, exit_code_for
from sqlfleet.cli.output import (
    format_duration,
    format_time,
    lifecycle_text,
    make_fields_table,
    make_table,
)
from sqlfleet.cli.parameters import add_value_options, parameter_values
from sqlfleet.cli.progress import rollup_line, watch_execution

STATUS_URLS = ("statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri")
LIFECYCLES = (
    "Created", "InProgress", "WaitingForChildJobExecutions", "WaitingForRetry", "Succeeded",
    "SucceededWithSkipped", "Failed", "TimedOut", "Canceled", "Skipped",
)  # fmt: skip
REMOVE_WAIT_SECONDS = 120.0


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    start = nouns.add_parser(
        "start", parents=[common], help="start a job (sp_start_job, Start-AzSqlElasticJob)"
    )
    start.add_argument("job")
    add_value_options(start)
    start.add_argument("--wait", action="store_true", help="show progress until it ends")
    start.add_argument(
        "-q", "--quiet", action="store_true", help="print only the execution id (for scripts)"
    )
    start.set_defaults(run=start_command)

    get = nouns.add_parser(
        "get", parents=[common], help="an execution with its steps and targets (Get-Job)"
    )
    get.add_argument("execution", nargs="?", help="job execution id (default: list recent)")
    get.add_argument("--lifecycle", choices=LIFECYCLES, help="only targets in this lifecycle")
    get.add_argument("--job-name", help="when listing: only this job's executions")
    get.add_argument(
        "--top", "--count", dest="top", type=int, metavar="N",
        help="at most N executions (listing; default 20) or N targets",
    )  # fmt: skip
    get.set_defaults(run=get_command)

    stop = nouns.add_parser("stop", parents=[common], help="cancel an execution (sp_stop_job)")
    stop.add_argument("execution")
    stop.set_defaults(run=stop_command)

    remove = nouns.add_parser(
        "remove", parents=[common], help="purge a finished execution's history (Remove-Job)"
    )
    remove.add_argument("execution")
    remove.add_argument(
        "--force", action="store_true", help="cancel it first if it is still active"
    )
    remove.set_defaults(run=remove_command)

    listing = nouns.add_parser(
        "executions", parents=[common], help="list executions, newest first (with filters)"
    )
    listing.add_argument("--job-name")
    active = listing.add_mutually_exclusive_group()
    active.add_argument("--active", dest="active", action="store_true", default=None)
    active.add_argument("--finished", dest="active", action="store_false")
    listing.add_argument("--lifecycle", choices=LIFECYCLES)
    listing.add_argument("--create-time-min", metavar="UTC", help="ISO 8601 date-time")
    listing.add_argument("--create-time-max", metavar="UTC", help="ISO 8601 date-time")
    listing.add_argument(
        "--top", "--count", dest="top", type=int, help="page size (default 100, at most 1000)"
    )
    listing.add_argument("--continuation", help="the continuation a previous page printed")
    listing.set_defaults(run=executions_command)


def start_command(cli: Invocation) -> int:
    """POST /api/jobs/{job}/start; with ``--wait`` follow it to the end."""
    values = parameter_values(cli.args)
    body = {"parameters": values} if values else None
    started = cli.client.post(api_path("jobs", cli.args.job, "start"), body)
    execution_id = started["job_execution_id"]
    if not cli.args.wait:
        if cli.args.quiet and not cli.json:
            cli.output.line(execution_id)
        elif cli.json:
            cli.output.json(started)
        else:
            show_started(cli, started)
        return EXIT_OK
    if not cli.json and not cli.args.quiet:
        cli.output.line(f"started {cli.args.job}: execution {execution_id}")
    final = watch_execution(cli.client, execution_id, cli.output)
    if cli.json:
        cli.output.json(final)
    return exit_code_for(final["lifecycle"])


def show_started(cli: Invocation, started: dict[str, Any]) -> None:
    pairs: list[tuple[str, Any]] = [
        ("job_execution_id", started["job_execution_id"]),
        ("job", f"{started.get('job_name') or cli.args.job} v{started.get('job_version', '')}"),
    ]
    pairs += [(name, started.get(name)) for name in STATUS_URLS if started.get(name)]
    cli.output.show(make_fields_table(pairs))
    cli.output.line(f"follow it with: sqlfleet wait {started['job_execution_id']}", style="dim")


def get_command(cli: Invocation) -> int:
    if cli.args.execution is None:
        return _list(cli, {"job_name": cli.args.job_name, "top": cli.args.top or 20})
    execution = read_execution(
        cli.client, cli.args.execution, cli.args.lifecycle, limit=cli.args.top
    )
    if cli.json:
        cli.output.json(execution)
    else:
        show_execution(cli, execution)
    return exit_code_for(None if execution["is_active"] else execution["lifecycle"])


def read_execution(
    client: ApiClient, execution_id: str, lifecycle: str | None, *, limit: int | None = None
) -> Any:
    """The execution document with every target (``lifecycle``'s only; the first ``limit``),
    its targets read a page at a time (GET /api/executions/{id}/targets) rather than in one
    answer."""
    path = api_path("executions", execution_id)
    execution = client.get(path, targets=False, lifecycle=lifecycle)
    by_step: dict[int, list[Any]] = {}
    top = min(limit, 10_000) if limit else None
    for count, target in enumerate(
        client.paged_items(path + "/targets", lifecycle=lifecycle, top=top), start=1
    ):
        by_step.setdefault(target["step_id"], []).append(target)
        if limit and count >= limit:
            break
    steps = execution.get("steps", [])
    for step in steps:
        step["targets"] = by_step.get(step["step_id"], [])
    if lifecycle:
        execution["steps"] = [
            step for step in steps if step["lifecycle"] == lifecycle or step["targets"]
        ]
    return execution


def show_execution(cli: Invocation, execution: dict[str, Any]) -> None:
    cli.output.show(
        make_fields_table(
            [
                ("job_execution_id", execution["job_execution_id"]),
                ("job", f"{execution['job_name']} v{execution['job_version']}"),
                ("lifecycle", lifecycle_text(execution["lifecycle"])),
                ("created", format_time(execution.get("create_time"))),
                ("started", format_time(execution.get("start_time"))),
                ("ended", format_time(execution.get("end_time"))),
                ("last_message", execution.get("last_message")),
                ("has_more_data", execution.get("has_more_data")),
                ("command", " | ".join(execution.get("command") or [])),
                ("location", ", ".join(execution.get("location") or [])),
                *(
                    [("parameters", ", ".join(f"{k}={v}" for k, v in parameters.items()))]
                    if (parameters := execution.get("parameters"))
                    else []
                ),
            ]
        )
    )
    cli.output.show(target_table(execution))
    if not execution["is_active"]:
        cli.output.show(rollup_line(execution))


def target_table(execution: dict[str, Any]) -> Any:
    """One row per target execution: step, target, lifecycle, attempts, duration, message."""
    rows = []
    for step in execution.get("steps", []):
        for target in step.get("targets", []):
            rows.append(
                (
                    f"{step['step_id']} {step.get('step_name') or ''}",
                    target_label(target),
                    lifecycle_text(target["lifecycle"]),
                    target.get("current_attempts"),
                    format_duration(target.get("start_time"), target.get("end_time")),
                    target.get("last_message"),
                )
            )
    columns = ("step", "target", "lifecycle", "attempts", "duration", "last message")
    return make_table(columns, rows)


def target_label(target: dict[str, Any]) -> str:
    """``sqlite server1/db1``, ``postgresql 127.0.0.1:5432/db`` (folders shortened)."""
    engine = target.get("target_engine") or "sqlserver"
    server = target.get("target_server_name") or ""
    if engine == "sqlite":
        server = PurePosixPath(server).name or server
    elif target.get("target_port"):
        server = f"{server}:{target['target_port']}"
    return f"{engine} {server}/{target.get('target_database_name') or ''}"


def write_csv(items: list[dict[str, Any]], stream: Any) -> None:
    """Result rows as CSV: the target's identity, then the union of the result columns."""
    identity = ["job_execution_id", "step_id", "step_name", "target_engine",
                "target_server_name", "target_database_name", "lifecycle"]  # fmt: skip
    columns: list[str] = []
    for item in items:
        for column in (item.get("result") or {}).get("columns", []):
            if column["name"] not in columns and column["name"] not in identity:
                columns.append(column["name"])
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(identity + columns)
    for item in items:
        target = item["target"]
        prefix = [target.get(name) for name in identity]
        result = item.get("result") or {}
        names = [column["name"] for column in result.get("columns", [])]
        for row in result.get("rows", []):
            values = dict(zip(names, row, strict=False))
            writer.writerow(prefix + [_csv_value(values.get(name)) for name in columns])
    stream.flush()


def _csv_value(value: Any) -> Any:
    return "" if value is None else value


def stop_command(cli: Invocation) -> int:
    execution = cli.client.post(api_path("executions", cli.args.execution, "cancel"))
    if cli.json:
        cli.output.json(execution)
    else:
        cli.output.line(
            f"cancel requested for {execution['job_execution_id']} "
            f"({execution['job_name']}); it is {execution['lifecycle']}"
        )
    return EXIT_OK


def remove_command(cli: Invocation) -> int:
    """DELETE /api/executions/{id}; ``--force`` cancels an active execution and waits first."""
    execution_id = cli.args.execution
    if cli.args.force:
        execution = cli.client.get(api_path("executions", execution_id))
        if execution["is_active"]:
            cli.client.post(api_path("executions", execution_id, "cancel"))
            _wait_inactive(cli.client, execution_id, REMOVE_WAIT_SECONDS)
    cli.client.delete(api_path("executions", execution_id))
    if cli.json:
        cli.output.json({"job_execution_id": execution_id, "removed": True})
    else:
        cli.output.line(f"execution {execution_id} removed")
    return EXIT_OK


def _wait_inactive(client: ApiClient, execution_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    path = api_path("executions", execution_id)
    execution = client.get(path, targets=False)
    while execution["is_active"]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise UsageError(f"execution {execution_id} is still active after {timeout:g}s")
        wait = max(1, min(int(left + 0.999), int(client.timeout) - 5))
        execution = client.get(path, targets=False, until="ended", wait=wait)


def executions_command(cli: Invocation) -> int:
    args = cli.args
    query = {
        "job_name": args.job_name,
        "active": args.active,
        "lifecycle": args.lifecycle,
        "create_time_min": args.create_time_min,
        "create_time_max": args.create_time_max,
        "top": args.top,
        "continuation": args.continuation,
    }
    return _list(cli, query)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _list(cli: Invocation, query: dict[str, Any]) -> int:
    page = cli.client.get(api_path("executions"), **query)
    if cli.json:
        cli.output.json(page)
        return EXIT_OK
    rows = [
        (
            e["job_execution_id"],
            f"{e['job_name']} v{e['job_version']}",
            lifecycle_text(e["lifecycle"]),
            format_time(e.get("create_time")),
            format_duration(e.get("start_time"), e.get("end_time")),
            e.get("has_more_data"),
            _short(" | ".join(e.get("command") or [])),
            _short(", ".join(e.get("location") or [])),
            e.get("last_message"),
        )
        for e in page["items"]
    ]
    columns = (
        "job_execution_id", "job", "lifecycle", "created", "duration", "has_more_data",
        "command", "location", "last message",
    )  # fmt: skip
    table = make_table(columns, rows)
    table.columns[0].no_wrap = True  # ids stay whole, to copy
    cli.output.show(table)
    if page.get("continuation"):
        cli.output.line(f"more: --continuation {page['continuation']}", style="dim")
    return EXIT_OK
