"""How the CLI writes: a readable table by default, the API's JSON documents with ``--json``.

Tables and progress go to stdout through rich; errors and notes go to stderr. When stdout is not
a terminal rich writes plain text (no colour codes), so output can be piped and grepped.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from sqlfleet.times import parse_utc

if TYPE_CHECKING:  # rich is imported when something is drawn: plain lines need none of it
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

# Colours of Elastic Jobs' lifecycle names wherever the CLI shows them.
LIFECYCLE_STYLE = {
    "Created": "dim",
    "InProgress": "cyan",
    "WaitingForChildJobExecutions": "cyan",
    "WaitingForRetry": "yellow",
    "Succeeded": "green",
    "SucceededWithSkipped": "green",
    "Failed": "bold red",
    "TimedOut": "red",
    "Canceled": "magenta",
    "Skipped": "dim",
}
# Width used when stdout is not a terminal, so that piped tables are not squeezed to 80 columns.
PIPE_WIDTH = 200


class Output:
    """The CLI's two streams; ``json_mode`` makes commands print JSON instead of tables.

    Lines written to a stream that is not a terminal go out as plain text without loading
    rich; tables and styled text on a terminal go through rich (imported on first use)."""

    def __init__(
        self, json_mode: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self._out = stdout or sys.stdout
        self._err = stderr or sys.stderr
        self.is_terminal = self._out.isatty()
        self._console: Console | None = None
        self._errors: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self._out, width=None if self.is_terminal else PIPE_WIDTH, highlight=False
            )
        return self._console

    @property
    def errors(self) -> Console:
        if self._errors is None:
            from rich.console import Console

            self._errors = Console(file=self._err, highlight=False, soft_wrap=True)
        return self._errors

    def json(self, document: Any) -> None:
        """``document`` as indented JSON on stdout (no rich markup, safe to parse)."""
        self._out.write(json.dumps(document, indent=2, default=str) + "\n")
        self._out.flush()

    def show(self, renderable: RenderableType) -> None:
        self.console.print(renderable)

    def line(self, text: str = "", style: str | None = None) -> None:
        self._write(self._out, text, style, self.is_terminal)

    def note(self, text: str) -> None:
        """Information that is not the command's result (stderr, so --json stays parseable)."""
        self._write(self._err, text, "dim", None)

    def error(self, text: str) -> None:
        """The one line an error prints."""
        self._write(self._err, "error: " + text.replace("\n", " "), "red", None)

    def _write(self, stream: TextIO, text: str, style: str | None, terminal: bool | None) -> None:
        if terminal is None:
            terminal = _is_terminal(stream)
        if not terminal:
            stream.write(text + "\n")
            stream.flush()
            return
        from rich.text import Text

        console = self.console if stream is self._out else self.errors
        console.print(Text(text, style=style or ""), soft_wrap=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def make_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> Table:
    """A borderless table; cells are text (lifecycle names coloured), None shows as empty."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell(value) for value in row))
    return table


def cell(value: Any) -> Text:
    from rich.text import Text

    if value is None:
        return Text("")
    if isinstance(value, Text):
        return value
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return Text(text, style=LIFECYCLE_STYLE.get(text, ""))


def lifecycle_text(lifecycle: str | None) -> Text:
    from rich.text import Text

    return Text(lifecycle or "", style=LIFECYCLE_STYLE.get(lifecycle or "", ""))


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        return None


def format_time(value: Any) -> str:
    """An API time as ``2024-05-01 12:00:03`` (UTC, like every Elastic Jobs time)."""
    parsed = parse_time(value)
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if parsed else ""


def format_duration(start: Any, end: Any, now: dt.datetime | None = None) -> str:
    """``end - start`` as ``1.2s`` / ``3m04s`` / ``2h05m``; running executions count to ``now``."""
    begun = parse_time(start)
    if begun is None:
        return ""
    finished = parse_time(end) or now
    if finished is None:
        return ""
    seconds = max(0.0, (finished - begun).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def make_fields_table(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """One object as ``field  value`` lines (``show`` commands)."""
    from rich.table import Table

    table = Table(box=None, show_header=False, title=title, title_justify="left", pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in pairs:
        table.add_row(name, cell(value))
    return table
