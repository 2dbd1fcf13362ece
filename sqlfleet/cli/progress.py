"""``wait``'s live view: one bar per step with its targets by lifecycle, then the rollup.

The view long-polls ``GET /api/executions/{id}?targets=false`` (the job database's history,
each step with its targets counted by lifecycle); on a terminal it is redrawn in place with
rich's ``Live``, elsewhere only the final view is printed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlfleet.cli.client import ApiClient, ApiError, api_path
from sqlfleet.cli.output import LIFECYCLE_STYLE, Output, format_duration, lifecycle_text

if TYPE_CHECKING:  # rich loads only for a live view or a styled line (the CLI starts faster)
    from rich.console import RenderableType
    from rich.text import Text

# Seconds each long-poll may wait for a change (the API allows up to 60).
LONG_POLL_SECONDS = 25
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
    wait_seconds: float = LONG_POLL_SECONDS,
    live: bool | None = None,
) -> dict[str, Any]:
    """Follow the execution until it is no longer active and return its final document (with
    its target rows when the output is JSON; otherwise the summary, with each step's progress).

    Each request is a long-poll (``wait`` seconds): for the end (``until=ended``) when nothing
    is drawn on the way, else ``since`` the version shown, so the answer comes as soon as
    anything changes; either way the end is seen the moment it happens. ``live``
    (default: stdout is a terminal and not ``--json``) redraws the view in place; when not live
    and not JSON, the final view is printed once. Raises ``ApiError``.
    """
    show_live = (output.is_terminal and not output.json_mode) if live is None else live
    path = api_path("executions", execution_id)
    # Leave time for the answer inside the client's own timeout.
    wait = max(1, min(int(wait_seconds), int(client.timeout) - 5))
    if show_live:
        execution = _watch_live(client, path, output, wait)
    else:
        # Nothing to draw on the way: straight to one long-poll for the end at a time.
        execution = client.get(path, targets=False, until="ended", wait=wait)
        while execution["is_active"]:
            execution = client.get(path, targets=False, until="ended", wait=wait)
        if not output.json_mode:
            steps = step_names(client, execution)
            if output.is_terminal:
                output.show(render_execution(execution, steps, final=True))
            else:
                for line in plain_execution(execution, steps):
                    output.line(line)
    if output.json_mode:
        return client.get(path)  # type: ignore[no-any-return]
    return execution


def _watch_live(client: ApiClient, path: str, output: Output, wait: int) -> dict[str, Any]:
    """Redraw the execution at each change (long-polls ``since`` the version shown); answer
    its last summary."""
    from rich.live import Live

    execution: dict[str, Any] = client.get(path, targets=False)
    steps = step_names(client, execution)
    with Live(
        render_execution(execution, steps),
        console=output.console,
        refresh_per_second=8,
        transient=False,
    ) as view:
        while execution["is_active"]:
            execution = client.get(path, targets=False, since=execution["version"], wait=wait)
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
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

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
    from rich.progress_bar import ProgressBar
    from rich.text import Text

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
    counts = target_counts(executed)
    total = sum(counts.values())
    done = sum(count for state, count in counts.items() if state in TERMINAL)
    if total:
        bar = ProgressBar(total=total, completed=done, width=BAR_WIDTH)
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
        Text(f"{done}/{total}"),
        lifecycle_text(executed["lifecycle"]),
        lifecycle_counts(counts),
    )


def target_counts(step: dict[str, Any]) -> Counter[str]:
    """A step's targets by lifecycle: from its ``progress`` (summaries), else its rows."""
    progress = step.get("progress")
    if isinstance(progress, dict):
        return Counter(progress.get("counts") or {})
    return Counter(target["lifecycle"] for target in step.get("targets", []))


def lifecycle_counts(counts: Counter[str]) -> Text:
    from rich.text import Text

    text = Text()
    for state in sorted(counts, key=lambda s: _ORDER.index(s) if s in _ORDER else len(_ORDER)):
        if text:
            text.append("  ")
        text.append(f"{state} {counts[state]}", style=LIFECYCLE_STYLE.get(state, ""))
    return text


def rollup_line(execution: dict[str, Any]) -> Text:
    """``Succeeded: 2 steps, 5 targets (Succeeded 5) in 1.8s``."""
    from rich.text import Text

    steps = execution.get("steps", [])
    counts: Counter[str] = Counter()
    for step in steps:
        counts.update(target_counts(step))
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


def plain_execution(execution: dict[str, Any], steps: dict[int, dict[str, Any]]) -> list[str]:
    """The final view as plain lines, for a pipe or a file: the header, one line per step
    (``step 1 name  3/3  Succeeded  Succeeded 3``) and the rollup (rich's view without
    the bars, and without loading rich)."""
    began = execution.get("start_time") or execution.get("create_time")
    lines = [
        f"{execution['job_name']} v{execution['job_version']}  "
        f"{execution['job_execution_id']}  {execution['lifecycle']}  "
        + format_duration(began, execution.get("end_time"))
    ]
    executed = {step["step_id"]: step for step in execution.get("steps", [])}
    totals: Counter[str] = Counter()
    for step_id in sorted(set(steps) | set(executed)):
        step = executed.get(step_id)
        name = (step or {}).get("step_name") or steps.get(step_id, {}).get("step_name") or ""
        if step is None:
            lines.append(f"step {step_id} {name}  pending")
            continue
        counts = target_counts(step)
        totals.update(counts)
        done = sum(count for state, count in counts.items() if state in TERMINAL)
        lines.append(
            f"step {step_id} {name}  {done}/{sum(counts.values())}  {step['lifecycle']}  "
            + _plain_counts(counts)
        )
    summary = (
        f"job execution {execution['lifecycle']}: {len(executed)} step(s), "
        f"{sum(totals.values())} target execution(s)"
    )
    if totals:
        summary += f" ({_plain_counts(totals)})"
    duration = format_duration(execution.get("start_time"), execution.get("end_time"))
    return [*lines, summary + (f" in {duration}" if duration else "")]


def _plain_counts(counts: Counter[str]) -> str:
    order = sorted(counts, key=lambda s: _ORDER.index(s) if s in _ORDER else len(_ORDER))
    return "  ".join(f"{state} {counts[state]}" for state in order)
