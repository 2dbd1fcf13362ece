"""``wait``'s live view: one bar per step with its targets by lifecycle, then the rollup.

The view polls ``GET /api/executions/{id}`` (the job database's history); on a terminal it is
redrawn in place with rich's ``Live``, elsewhere only the final view is printed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import Any

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from sqlfleet.cli.client import ApiClient, ApiError, api_path
from sqlfleet.cli.output import LIFECYCLE_STYLE, Output, format_duration, lifecycle_text

DEFAULT_POLL_SECONDS = 0.5
TERMINAL = frozenset(
    {"Succeeded", "SucceededWithSkipped", "Failed", "TimedOut", "Canceled", "Skipped"}
)
# The order lifecycles are listed in on a step's line: what needs attention first.
_ORDER = (
    "Failed", "TimedOut", "Canceled", "WaitingForRetry", "InProgress",
    "WaitingForChildJobExecutions", "Created", "Skipped", "SucceededWithSkipped", "Succeeded",
)  # fmt: skip
BAR_WIDTH = 30


def watch_execution(
    client: ApiClient,
    execution_id: str,
    output: Output,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    live: bool | None = None,
) -> dict[str, Any]:
    """Poll the execution until it is no longer active and return its final document.

    ``live`` (default: stdout is a terminal and not ``--json``) redraws the view in place; when
    not live and not JSON, the final view is printed once. Raises ``ApiError``.
    """
    show_live = (output.is_terminal and not output.json_mode) if live is None else live
    execution: dict[str, Any] = client.get(api_path("executions", execution_id))
    steps = step_names(client, execution)
    if not show_live:
        while execution["is_active"]:
            time.sleep(poll_seconds)  # the API has no long poll; this is the poll interval
            execution = client.get(api_path("executions", execution_id))
        if not output.json_mode:
            output.show(render_execution(execution, steps, final=True))
        return execution
    with Live(
        render_execution(execution, steps),
        console=output.console,
        refresh_per_second=8,
        transient=False,
    ) as view:
        while execution["is_active"]:
            time.sleep(poll_seconds)
            execution = client.get(api_path("executions", execution_id))
            view.update(render_execution(execution, steps))
        view.update(render_execution(execution, steps, final=True))
    return execution


def step_names(client: ApiClient, execution: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The steps of the execution's job version (so that steps not started yet show too)."""
    try:
        version = client.get(
            api_path("jobs", execution["job_name"], "versions", execution["job_version"])
        )
    except ApiError:
        return {}  # the job may have been deleted since; show the steps the execution has
    return {step["step_id"]: step for step in version.get("steps", [])}


def render_execution(
    execution: dict[str, Any], steps: dict[int, dict[str, Any]], *, final: bool = False
) -> RenderableType:
    """The header, one line per step, and (``final``) the rollup line."""
    now = dt.datetime.now(dt.timezone.utc)
    began = execution.get("start_time") or execution.get("create_time")
    header = Text.assemble(
        (f"{execution['job_name']}", "bold"),
        f" v{execution['job_version']}  {execution['job_execution_id']}  ",
        lifecycle_text(execution["lifecycle"]),
        "  " + format_duration(began, execution.get("end_time"), now),
    )
    grid = Table.grid(padding=(0, 2))
    for _ in range(5):
        grid.add_column()
    executed = {step["step_id"]: step for step in execution.get("steps", [])}
    for step_id in sorted(set(steps) | set(executed)):
        grid.add_row(*_step_row(step_id, steps.get(step_id), executed.get(step_id)))
    parts: list[RenderableType] = [header, grid]
    if final:
        parts.append(rollup_line(execution))
    return Group(*parts)


def _step_row(
    step_id: int, definition: dict[str, Any] | None, executed: dict[str, Any] | None
) -> tuple[RenderableType, ...]:
    name = (executed or {}).get("step_name") or (definition or {}).get("step_name") or ""
    label = Text(f"step {step_id} {name}", style="bold")
    if executed is None:
        return (
            label,
            ProgressBar(total=1, completed=0, width=BAR_WIDTH),
            Text(""),
            Text("pending", style="dim"),
            Text(""),
        )
    targets = executed.get("targets", [])
    counts = Counter(target["lifecycle"] for target in targets)
    done = sum(count for state, count in counts.items() if state in TERMINAL)
    if targets:
        bar = ProgressBar(total=len(targets), completed=done, width=BAR_WIDTH)
        bar.complete_style = (
            "red" if counts.keys() & {"Failed", "TimedOut", "Canceled"} else "green"
        )
    elif executed["lifecycle"] in TERMINAL:
        bar = ProgressBar(total=1, completed=1, width=BAR_WIDTH)
    else:
        bar = ProgressBar(total=None, width=BAR_WIDTH)  # targets not expanded yet: pulse
    return (
        label,
        bar,
        Text(f"{done}/{len(targets)}"),
        lifecycle_text(executed["lifecycle"]),
        lifecycle_counts(counts),
    )


def lifecycle_counts(counts: Counter[str]) -> Text:
    text = Text()
    for state in sorted(counts, key=lambda s: _ORDER.index(s) if s in _ORDER else len(_ORDER)):
        if text:
            text.append("  ")
        text.append(f"{state} {counts[state]}", style=LIFECYCLE_STYLE.get(state, ""))
    return text


def rollup_line(execution: dict[str, Any]) -> Text:
    """``Succeeded: 2 steps, 5 targets (Succeeded 5) in 1.8s``."""
    steps = execution.get("steps", [])
    counts: Counter[str] = Counter(
        target["lifecycle"] for step in steps for target in step.get("targets", [])
    )
    duration = format_duration(execution.get("start_time"), execution.get("end_time"))
    text = Text("job execution ")
    text.append(execution["lifecycle"], style=LIFECYCLE_STYLE.get(execution["lifecycle"], ""))
    text.append(f": {len(steps)} step(s), {sum(counts.values())} target execution(s)")
    if counts:
        text.append(" (")
        text.append_text(lifecycle_counts(counts))
        text.append(")")
    if duration:
        text.append(f" in {duration}")
    return text
