"""``sqlfleet jobs ...`` and ``sqlfleet steps ...`` with Elastic Jobs' parameter names.

``jobs create`` is sp_add_job (``--schedule-interval-type`` Once|Minutes|Hours|Days|Weeks|Months,
PowerShell's singular Minute|Hour|... too); ``steps create`` is sp_add_jobstep with its defaults
(retry 10 attempts, 1 s initial, 120 s maximum, backoff 2.0, timeout 43200 s); ``steps update``
is sp_update_jobstep, where ``--max-parallelism -1`` and ``--credential ''`` reset to NULL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from sqlfleet.cli.client import api_path
from sqlfleet.cli.invocation import EXIT_OK, Invocation, UsageError, count_options, first
from sqlfleet.cli.output import format_time, make_fields_table, make_table
from sqlfleet.cli.parameters import add_declare_option, declarations
from sqlfleet.engine import ENGINE_NAMES

INTERVALS = {
    "once": "once",
    "minute": "minutes",
    "minutes": "minutes",
    "hour": "hours",
    "hours": "hours",
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
    "month": "months",
    "months": "months",
}
RETRY_OPTIONS = (
    ("retry_attempts", int, "retries after the first attempt (default 10)"),
    ("initial_retry_interval_seconds", int, "delay before the first retry (default 1)"),
    ("maximum_retry_interval_seconds", int, "cap on the retry delay (default 120)"),
    ("retry_interval_backoff_multiplier", float, "delay multiplier per retry (default 2.0)"),
    ("step_timeout_seconds", int, "per-target timeout (default 43200)"),
)
OUTPUT_FIELDS = (
    "engine", "server_name", "port", "database_name", "schema_name", "table_name",
    "credential_name", "result_set",
)  # fmt: skip
STEP_COLUMNS = (
    "id",
    "name",
    "target group",
    "credential",
    "retries",
    "timeout",
    "parallel",
    "command",
)


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    jobs = nouns.add_parser("jobs", aliases=["job"], help="jobs and their schedules")
    verbs = jobs.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", parents=[common, count_options()], help="list jobs").set_defaults(
        run=list_jobs
    )
    show = verbs.add_parser("show", parents=[common], help="show a job with its steps")
    show.add_argument("name")
    show.set_defaults(run=show_job)
    create = verbs.add_parser("create", parents=[common], help="create a job (sp_add_job)")
    create.add_argument("name")
    _job_options(create, creating=True)
    create.set_defaults(run=create_job)
    update = verbs.add_parser("update", parents=[common], help="change a job (sp_update_job)")
    update.add_argument("name")
    _job_options(update, creating=False)
    update.set_defaults(run=update_job)
    delete = verbs.add_parser("delete", parents=[common], help="delete a job and its history")
    delete.add_argument("name")
    delete.add_argument(
        "--force", action="store_true", help="also cancel active executions (@force = 1)"
    )
    delete.set_defaults(run=delete_job)
    versions = verbs.add_parser(
        "versions", parents=[common, count_options()], help="list a job's versions"
    )
    versions.add_argument("name")
    versions.set_defaults(run=list_versions)

    steps = nouns.add_parser("steps", aliases=["step"], help="the ordered steps of a job")
    step_verbs = steps.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = step_verbs.add_parser(
        "list", parents=[common, count_options()], help="list a job's steps"
    )
    listing.add_argument("job")
    listing.add_argument("--version", type=int, help="a job version (default: current)")
    listing.set_defaults(run=list_steps)
    show_step = step_verbs.add_parser("show", parents=[common], help="show one step")
    show_step.add_argument("job")
    show_step.add_argument("step", help="step id or name")
    show_step.add_argument("--version", type=int, help="a job version (default: current)")
    show_step.set_defaults(run=show_step_command)
    add = step_verbs.add_parser(
        "create", aliases=["add"], parents=[common], help="add a step (sp_add_jobstep)"
    )
    add.add_argument("job")
    _step_options(add, creating=True)
    add.set_defaults(run=create_step)
    change = step_verbs.add_parser(
        "update", parents=[common], help="change a step (sp_update_jobstep)"
    )
    change.add_argument("job")
    change.add_argument("step", help="step id or name")
    _step_options(change, creating=False)
    change.set_defaults(run=update_step)
    remove = step_verbs.add_parser(
        "delete", aliases=["remove"], parents=[common], help="delete a step (sp_delete_jobstep)"
    )
    remove.add_argument("job")
    remove.add_argument("step", help="step id or name")
    remove.set_defaults(run=delete_step)


def _interval(value: str) -> str:
    try:
        return INTERVALS[value.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not an interval type; use Once, Minutes, Hours, Days, Weeks or Months"
        ) from None


def _job_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument("--description", default=None)
    parser.add_argument(
        "--enabled",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the schedule runs the job (default: disabled; manual start always works)",
    )
    default = " (default Once)" if creating else ""
    parser.add_argument(
        "--schedule-interval-type",
        type=_interval,
        metavar="TYPE",
        help="Once | Minutes | Hours | Days | Weeks | Months" + default,
    )
    parser.add_argument("--schedule-interval-count", type=int, metavar="N", help="default 1")
    parser.add_argument(
        "--schedule-start-time",
        metavar="TIME",
        help="ISO time, e.g. 2025-01-01T00:00:00Z (without offset: in --schedule-time-zone), "
        "or 'now'; at or before now runs at once",
    )
    parser.add_argument("--schedule-end-time", metavar="TIME", help="ISO time")
    parser.add_argument(
        "--schedule-time-zone", metavar="ZONE", help="IANA time zone, e.g. Europe/Paris (UTC)"
    )
    parser.add_argument(
        "--schedule-cron", metavar="EXPR", help="a cron expression instead of an interval"
    )
    add_declare_option(parser)


def _step_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    if creating:
        parser.add_argument("--step-name", "--name", dest="step_name", help="default 'JobStep'")
        parser.add_argument("--step-id", type=int, help="insert at this position (default: append)")
    else:
        parser.add_argument("--new-name", help="rename the step")
        parser.add_argument("--new-id", type=int, help="move the step to this position")
    command = parser.add_mutually_exclusive_group(required=creating)
    command.add_argument("--command", help="the SQL script")
    command.add_argument(
        "--command-file", metavar="PATH", help="read the script from PATH ('-': stdin)"
    )
    parser.add_argument(
        "--credential", dest="credential_name", metavar="NAME", help="job credential"
    )
    parser.add_argument(
        "--target-group", dest="target_group_name", metavar="NAME", required=creating,
        help="target group the step runs on",
    )  # fmt: skip
    for name, kind, text in RETRY_OPTIONS:
        parser.add_argument("--" + name.replace("_", "-"), type=kind, metavar="N", help=text)
    parser.add_argument(
        "--max-parallelism", type=int, metavar="N",
        help="targets at a time (default unlimited" + ("" if creating else "; -1 resets") + ")",
    )  # fmt: skip
    parser.add_argument("--on-failure", choices=("fail", "continue"), help="default fail")
    parser.add_argument(
        "--retry-on", choices=("transient", "all"),
        help="errors retried: transient ones (default; others fail at once) or all",
    )  # fmt: skip
    output = parser.add_argument_group("output destination (first result set -> a table)")
    output.add_argument("--output-engine", choices=ENGINE_NAMES)
    output.add_argument("--output-server-name", metavar="SERVER")
    output.add_argument("--output-port", type=int, metavar="PORT")
    output.add_argument("--output-database-name", metavar="DB")
    output.add_argument("--output-schema-name", metavar="SCHEMA", help="default dbo/public/main")
    output.add_argument("--output-table-name", metavar="TABLE")
    output.add_argument("--output-credential", dest="output_credential_name", metavar="NAME")
    output.add_argument(
        "--output-result-set", type=int, metavar="N", help="which result set (0-based; default 0)"
    )
    if not creating:
        output.add_argument("--remove-output", action="store_true", help="stop writing output")


def list_jobs(cli: Invocation) -> int:
    jobs = first(cli.client.items(api_path("jobs")), cli.args)
    if cli.json:
        cli.output.json(jobs)
        return EXIT_OK
    rows = [
        (
            j["name"],
            j["job_version"],
            len(j.get("steps", [])),
            j["enabled"],
            _schedule(j),
            format_time(j.get("next_run_time")),
            j.get("description"),
        )
        for j in jobs
    ]
    cli.output.show(
        make_table(
            ("name", "version", "steps", "enabled", "schedule", "next run", "description"), rows
        )
    )
    return EXIT_OK


def show_job(cli: Invocation) -> int:
    job = cli.client.get(api_path("jobs", cli.args.name))
    if cli.json:
        cli.output.json(job)
        return EXIT_OK
    cli.output.show(
        make_fields_table(
            [
                ("name", job["name"]),
                ("job_id", job["job_id"]),
                ("job_version", job["job_version"]),
                ("description", job.get("description")),
                ("enabled", job["enabled"]),
                ("schedule", _schedule(job)),
                ("next run", format_time(job.get("next_run_time")) or "none"),
                ("parameters", _declared(job.get("parameters") or [])),
                ("modified", format_time(job.get("modified_time"))),
            ]
        )
    )
    cli.output.show(step_table(job.get("steps", [])))
    return EXIT_OK


def create_job(cli: Invocation) -> int:
    path = api_path("jobs", cli.args.name)
    if cli.client.exists(path):
        raise UsageError(f"job '{cli.args.name}' already exists; use 'sqlfleet jobs update'")
    document: dict[str, Any] = {"description": cli.args.description or ""}
    _merge_job_options(cli.args, document)
    job = cli.client.put(path, document)
    _report_job(cli, job, "created")
    return EXIT_OK


def update_job(cli: Invocation) -> int:
    """GET the job, change what the options say, PUT it back without steps (steps are kept)."""
    path = api_path("jobs", cli.args.name)
    current = cli.client.get(path)
    document: dict[str, Any] = {
        "description": current.get("description", ""),
        "enabled": current["enabled"],
        "schedule": dict(current["schedule"]),
        "parameters": current.get("parameters", []),
    }
    if cli.args.description is not None:
        document["description"] = cli.args.description
    _merge_job_options(cli.args, document)
    job = cli.client.put(path, document)
    _report_job(cli, job, "updated")
    return EXIT_OK


def _merge_job_options(args: argparse.Namespace, document: dict[str, Any]) -> None:
    if args.enabled is not None:
        document["enabled"] = args.enabled
    schedule = dict(document.get("schedule", {}))
    for option, key in (
        ("schedule_interval_type", "interval_type"),
        ("schedule_interval_count", "interval_count"),
        ("schedule_start_time", "start_time"),
        ("schedule_end_time", "end_time"),
        ("schedule_time_zone", "time_zone"),
        ("schedule_cron", "cron"),
    ):
        value = getattr(args, option)
        if value is not None:
            if key in ("start_time", "end_time") and value.strip().lower() == "now":
                value = dt.datetime.now(dt.timezone.utc).isoformat()
            schedule[key] = value
    if args.schedule_cron:
        schedule.pop("interval_type", None)
        schedule.pop("interval_count", None)
    elif args.schedule_interval_type:
        schedule.pop("cron", None)
    if schedule:
        document["schedule"] = schedule
    if args.declare is not None:
        document["parameters"] = declarations(args.declare)


def _report_job(cli: Invocation, job: dict[str, Any], what: str) -> None:
    if cli.json:
        cli.output.json(job)
    else:
        cli.output.line(
            f"job '{job['name']}' {what} (version {job['job_version']}, {_schedule(job)})"
        )


def delete_job(cli: Invocation) -> int:
    query = {"force": True} if cli.args.force else {}
    cli.client.delete(api_path("jobs", cli.args.name), **query)
    if cli.json:
        cli.output.json({"name": cli.args.name, "deleted": True})
    else:
        cli.output.line(f"job '{cli.args.name}' deleted")
    return EXIT_OK


def list_versions(cli: Invocation) -> int:
    versions = first(cli.client.items(api_path("jobs", cli.args.name, "versions")), cli.args)
    if cli.json:
        cli.output.json(versions)
        return EXIT_OK
    rows = [
        (v["job_version"], v["step_count"], format_time(v.get("created_time"))) for v in versions
    ]
    cli.output.show(make_table(("version", "steps", "created"), rows))
    return EXIT_OK


def list_steps(cli: Invocation) -> int:
    steps = first(
        cli.client.items(api_path("jobs", cli.args.job, "steps"), version=cli.args.version),
        cli.args,
    )
    if cli.json:
        cli.output.json(steps)
    else:
        cli.output.show(step_table(steps))
    return EXIT_OK


def show_step_command(cli: Invocation) -> int:
    step = cli.client.get(
        api_path("jobs", cli.args.job, "steps", cli.args.step), version=cli.args.version
    )
    if cli.json:
        cli.output.json(step)
        return EXIT_OK
    pairs = [(key, value) for key, value in step.items() if key not in ("command", "output")]
    output = step.get("output")
    pairs.append(("output", _output_text(output) if output else None))
    cli.output.show(make_fields_table(pairs))
    cli.output.line("command:", style="bold")
    cli.output.line(step["command"])
    return EXIT_OK


def create_step(cli: Invocation) -> int:
    args = cli.args
    document: dict[str, Any] = {
        "command": _command(args),
        "target_group_name": args.target_group_name,
    }
    for name in (
        "step_name", "step_id", "credential_name", "max_parallelism", "on_failure", "retry_on"
    ):  # fmt: skip
        if getattr(args, name) is not None:
            document[name] = getattr(args, name)
    _merge_step_options(args, document)
    output = _output_from_options(args, None)
    if output is not None:
        document["output"] = output
    step = cli.client.post(api_path("jobs", args.job, "steps"), document)
    _report_step(cli, step, "added")
    return EXIT_OK


def update_step(cli: Invocation) -> int:
    """PATCH only what the options name; ``''`` / ``-1`` reset to NULL as in sp_update_jobstep."""
    args = cli.args
    path = api_path("jobs", args.job, "steps", args.step)
    patch: dict[str, Any] = {}
    if args.command is not None or args.command_file is not None:
        patch["command"] = _command(args)
    for name in ("new_name", "new_id", "target_group_name", "on_failure", "retry_on"):
        if getattr(args, name) is not None:
            patch[name] = getattr(args, name)
    if args.credential_name is not None:
        patch["credential_name"] = args.credential_name or None
    if args.max_parallelism is not None:
        patch["max_parallelism"] = None if args.max_parallelism == -1 else args.max_parallelism
    _merge_step_options(args, patch)
    if args.remove_output:
        patch["output"] = None
    elif any(getattr(args, "output_" + f) is not None for f in OUTPUT_FIELDS):
        patch["output"] = _output_from_options(args, cli.client.get(path).get("output"))
    if not patch:
        raise UsageError("nothing to change; give at least one option (see --help)")
    step = cli.client.patch(path, patch)
    _report_step(cli, step, "updated")
    return EXIT_OK


def delete_step(cli: Invocation) -> int:
    cli.client.delete(api_path("jobs", cli.args.job, "steps", cli.args.step))
    if cli.json:
        cli.output.json({"job_name": cli.args.job, "step": cli.args.step, "deleted": True})
    else:
        cli.output.line(f"step {cli.args.step} of job '{cli.args.job}' deleted")
    return EXIT_OK


def _merge_step_options(args: argparse.Namespace, document: dict[str, Any]) -> None:
    for name, _kind, _text in RETRY_OPTIONS:
        if getattr(args, name) is not None:
            document[name] = getattr(args, name)


def _command(args: argparse.Namespace) -> str:
    if args.command is not None:
        return str(args.command)
    if args.command_file == "-":
        return sys.stdin.read()
    try:
        with open(args.command_file, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise UsageError(
            f"cannot read --command-file {args.command_file}: {error.strerror}"
        ) from None


def _output_from_options(
    args: argparse.Namespace, current: dict[str, Any] | None
) -> dict[str, Any] | None:
    given = {
        f: getattr(args, "output_" + f)
        for f in OUTPUT_FIELDS
        if getattr(args, "output_" + f) is not None
    }
    if not given:
        return None
    output = {k: v for k, v in (current or {}).items() if v is not None}
    output.update(given)
    return output


def _report_step(cli: Invocation, step: dict[str, Any], what: str) -> None:
    if cli.json:
        cli.output.json(step)
    else:
        cli.output.line(
            f"step {step['step_id']} '{step['step_name']}' {what}; job '{step['job_name']}' is now "
            f"version {step['job_version']}"
        )


def step_table(steps: list[dict[str, Any]]) -> Any:
    rows = [
        (
            s["step_id"],
            s["step_name"],
            s["target_group_name"],
            s.get("credential_name"),
            s["retry_attempts"],
            f"{s['step_timeout_seconds']}s",
            s.get("max_parallelism") or "unlimited",
            _first_line(s["command"]),
        )
        for s in steps
    ]
    return make_table(STEP_COLUMNS, rows)


def _first_line(text: str, width: int = 60) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    more = len(lines) > 1 or len(first) > width
    return first[:width] + (" ..." if more else "")


def _schedule(job: dict[str, Any]) -> str:
    schedule = job.get("schedule") or {}
    zone = f" ({schedule['time_zone']})" if schedule.get("time_zone") else ""
    if schedule.get("cron"):
        return f"cron '{schedule['cron']}'{zone}"
    if schedule.get("interval_type", "once") == "once":
        return "once"
    return f"every {schedule.get('interval_count', 1)} {schedule['interval_type']}{zone}"


def _declared(parameters: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{p['name']}:{p['type']}"
        + (" secret" if p.get("secret") else "")
        + (f"={p['default']}" if p.get("default") is not None else "")
        for p in parameters
    )


def _output_text(output: dict[str, Any]) -> str:
    schema = f"{output['schema_name']}." if output.get("schema_name") else ""
    return (
        f"{output['engine']} {output['server_name']}/{output['database_name']} "
        f"{schema}{output['table_name']}"
    )
