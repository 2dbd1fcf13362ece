"""``sqlfleet wait`` in a real terminal: tmux runs it, the test reads the screen."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import SQLFLEET, Cli
from tests.support.servers import wait_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """A detached tmux session of its own server (``-L``), 140x40."""

    def __init__(self) -> None:
        self.socket = f"sqlfleet-test-{uuid.uuid4().hex[:8]}"

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return result.stdout

    def run(self, command: str) -> None:
        self.tmux("new-session", "-d", "-x", "140", "-y", "40", "-s", "t", command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    try:
        yield term
    finally:
        term.close()


def test_wait_shows_one_bar_per_step_live_and_ends_with_the_rollup(
    cli: Cli, unique: str, sqlite_server: Path, terminal: Terminal
) -> None:
    job, group = f"live_{unique}", f"live_{unique}_group"
    cli.ok("target-groups", "create", group)
    cli.ok("members", "add", group, "--target-type", "server", "--engine", "sqlite",
           "--server-name", str(sqlite_server))  # fmt: skip
    cli.ok("jobs", "create", job)
    cli.ok(
        "steps",
        "create",
        job,
        "--step-name",
        "step1",
        "--target-group",
        group,
        "--command",
        "CREATE TABLE IF NOT EXISTS Step1Table (TestId int NOT NULL);",
    )
    # Fails on every attempt with an error of no known class (retried, where a missing table
    # would fail at once): 1 + 2 retries, 1 s then 2 s apart, so the screen has time to show
    # the targets WaitingForRetry before the step ends Failed.
    cli.ok("steps", "create", job, "--step-name", "step2", "--target-group", group,
           "--command", "SELECT abs(-9223372036854775808)", "--retry-attempts", "2",
           "--initial-retry-interval-seconds", "1")  # fmt: skip
    execution_id = cli.json("start", job)["job_execution_id"]

    command = (
        f"env TERM=xterm-256color {shlex.quote(SQLFLEET)} --url {shlex.quote(cli.url)} "
        f"--key {shlex.quote(cli.key or '')} "
        f"wait {execution_id}; echo EXIT=$?; sleep 60"
    )
    terminal.run(command)

    def retry_on_screen() -> str | None:
        screen = terminal.screen()
        return screen if "WaitingForRetry 3" in screen or "EXIT=" in screen else None

    during = wait_until(retry_on_screen, 60, 0.05, "targets WaitingForRetry on the screen")
    assert "EXIT=" not in during, "the execution ended before the live view showed a retry"
    step2 = next(line for line in during.splitlines() if "step 2 step2" in line)
    assert "WaitingForRetry" in step2 and "0/3" in step2

    def ended() -> str | None:
        screen = terminal.screen()
        return screen if "EXIT=" in screen else None

    final = wait_until(ended, 60, 0.1, "the wait command to end")
    lines = final.splitlines()
    step1 = next(line for line in lines if "step 1 step1" in line)
    assert "━" in step1 and "3/3" in step1 and "Succeeded 3" in step1
    step2 = next(line for line in lines if "step 2 step2" in line)
    assert "3/3" in step2 and "Failed 3" in step2
    assert "job execution Failed: 2 step(s), 6 target execution(s)" in final
    assert "EXIT=1" in final
    # Redrawn in place: the header is on the screen once, not once per poll.
    assert sum(execution_id in line for line in lines) == 1
