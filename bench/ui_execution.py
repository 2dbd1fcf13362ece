"""How soon the monitoring page's execution view is usable for a big execution.

    .venv/bin/python bench/ui_execution.py                 # 10,000 targets, 5 page loads
    .venv/bin/python bench/ui_execution.py --targets 20000 --loads 3

1. Makes N SQLite databases (``bench.targets.sqlite_fleet``) and runs a one-step job on all of
   them on a fresh ``python -m devhost`` (one target in 50 fails, so the grid has two colours).
2. Opens ``/api/ui/executions/<id>`` in Debian's headless Chromium (Playwright, the flags the
   tests use) with the function key, ``--loads`` times, each in a fresh tab, and reports:
   - **grid drawn**: from the start of the navigation until every target's cell is on the
     canvas (the page's ``sqlfleet:grid-drawn`` performance mark);
   - **click to detail**: from a click on a failed target's cell until its detail (attempts,
     error, messages, the SQL that ran) is on the page (``sqlfleet:target-shown``);
   - **interactive**: the two added: the page loaded, drawn, and answered a click.
   The goal is interactive within 1 s (median). Also the host's resident memory before and
   after the page loads: the page reads one character per target, never the 10,000 rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.host import FleetHost, wait_for  # noqa: E402
from bench.targets import sqlite_fleet  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Every 50th database fails (its name ends in 00 or 50).
COMMAND = (
    "SELECT CASE WHEN '$(target_database_name)' LIKE '%00' OR '$(target_database_name)' LIKE "
    "'%50' THEN abs(-9223372036854775808) ELSE 1 END AS ok;"
)
GOAL_MS = 1000.0


def make_execution(host: FleetHost, folder: Path, count: int) -> str:
    fleet = sqlite_fleet(folder, count)
    host.ok("PUT", "/api/target-groups/bench", {"members": [fleet.member]})
    step = {"step_name": "bench", "command": COMMAND, "target_group_name": "bench",
            "retry_attempts": 0}  # fmt: skip
    host.ok("PUT", "/api/jobs/ui-bench", {"steps": [step]})
    execution_id = str(host.ok("POST", "/api/jobs/ui-bench/start")["job_execution_id"])
    started = time.perf_counter()

    def ended() -> bool:
        return not host.ok("GET", f"/api/executions/{execution_id}?targets=false")["is_active"]

    wait_for(ended, 1800, f"execution {execution_id} to end", 1.0)
    print(f"execution of {count:,} targets ran in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)  # fmt: skip
    return execution_id


def load_once(
    browser: Any, host: FleetHost, execution_id: str, failed: int, expected: int
) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    try:
        page = context.new_page()
        # The key goes in as a user's first visit puts it: the fragment, then sessionStorage.
        page.goto(f"{host.base}/api/ui/#key={host.key}")
        page.wait_for_selector("h1")
        page.goto(f"{host.base}/api/ui/executions/{execution_id}")
        # (No wait_for_function: the page's Content-Security-Policy forbids evaluating text.)
        canvas = page.locator(f"canvas.grid-canvas[data-drawn='{expected}']")
        canvas.wait_for(timeout=60_000)
        drawn = page.evaluate("performance.getEntriesByName('sqlfleet:grid-drawn')[0].startTime")
        cell = int(canvas.get_attribute("data-cell") or 1)
        columns = int(canvas.get_attribute("data-columns") or 1)
        clicked = page.evaluate("performance.now()")
        canvas.click(
            position={
                "x": (failed % columns) * cell + cell / 2,
                "y": (failed // columns) * cell + cell / 2,
            }
        )
        page.locator("aside.detail:not([hidden]) [data-testid=target-error]").wait_for()
        shown = page.evaluate("performance.getEntriesByName('sqlfleet:target-shown')[0].startTime")
        text = page.locator("aside.detail").inner_text()
        if f"Target {failed}" not in text or "Failed" not in text:
            raise SystemExit(f"the detail of target {failed} is not what was clicked: {text[:200]}")
        return {"drawn": drawn, "click": shown - clicked, "interactive": drawn + shown - clicked}
    finally:
        context.close()


def host_rss_mib(host: FleetHost) -> float:
    """The host process's resident memory now (``VmRSS``), without its script processes."""
    assert host.process is not None
    for line in Path(f"/proc/{host.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sqlfleet-ui-bench-") as temporary:
        work = Path(temporary)
        host = FleetHost(work, sqlite_roots=(work / "targets",))
        host.start()
        try:
            execution_id = make_execution(host, work / "targets", args.targets)
            codes = host.ok("GET", f"/api/executions/{execution_id}/steps/1/lifecycles?count=50")
            failed = next(i for i, code in enumerate(codes["codes"])
                          if codes["legend"][int(code)] == "Failed")  # fmt: skip
            before = host_rss_mib(host)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    runs = [
                        load_once(browser, host, execution_id, failed, args.targets)
                        for _ in range(args.loads)
                    ]
                finally:
                    browser.close()
            after = host_rss_mib(host)
        finally:
            host.stop()
    for name in ("drawn", "click", "interactive"):
        values = [run[name] for run in runs]
        median, low, high = statistics.median(values), min(values), max(values)
        print(f"{name:12} median {median:7.0f} ms   min {low:5.0f}   max {high:5.0f}")
    interactive = statistics.median(run["interactive"] for run in runs)
    print(f"targets      {args.targets:,}, {len(runs)} page loads")
    print(f"host RSS     {before:.0f} MiB before the page loads, {after:.0f} MiB after")
    verdict = "met" if interactive <= GOAL_MS else "NOT met"
    print(f"goal: interactive within {GOAL_MS:.0f} ms: {verdict} ({interactive:.0f} ms)")
    return 0 if interactive <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
