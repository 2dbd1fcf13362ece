"""Make the README's screenshots of the monitoring page (docs/monitoring-*.png).

    .venv/bin/python scripts/readme_screenshots.py

Starts a local host on a temporary folder, runs a few executions on SQLite files (one
succeeds, one fails on some databases after a retry, one is stopped, one reruns the failed
targets), and photographs the overview and a failed execution with a target opened in Debian's
headless Chromium.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from sqlfleet.cli.demo import make_sqlite_server  # noqa: E402
from tests.jobs.fleet import sqlite_folder_member  # noqa: E402
from tests.jobs.host import JobsHost  # noqa: E402
from tests.ui.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

DOCS = ROOT / "docs"
FLAKY = (
    "SELECT '$(target_database_name)' AS db, 'ok' AS status;\n"
    "SELECT CASE WHEN '$(target_database_name)' LIKE '%7' THEN abs(-9223372036854775808) END;"
)


def main() -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sqlfleet-shots-") as temporary:
        work = Path(temporary)
        folder = work / "tenants"
        folder.mkdir()
        for index in range(240):
            make_sqlite_server(work / "seed") if index == 0 else None
            (folder / f"tenant{index:03d}.db").write_bytes((work / "seed" / "db1.db").read_bytes())
        env = {
            "SQLFLEET_DATA_DIR": str(work / "app"),
            "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
            "SQLFLEET_SQLITE_ROOTS": str(folder),
        }
        host = JobsHost.start(work, env)
        try:
            host.ok(
                "PUT", "/api/target-groups/tenants", {"members": [sqlite_folder_member(folder)]}
            )
            step = {"step_name": "check-schema", "target_group_name": "tenants"}
            host.put_job("refresh-stats", [{**step, "command": "SELECT 1 AS refreshed;"}],
                         description="nightly statistics refresh", enabled=True,
                         schedule={"interval_type": "Days", "interval_count": 1,
                                   "start_time": "2025-01-01T02:00:00Z"})  # fmt: skip
            host.put_job("migrate-tenants", [{**step, "command": FLAKY, "retry_attempts": 1,
                                              "initial_retry_interval_seconds": 1}],
                         description="schema migration 42")  # fmt: skip
            host.put_job("purge-sessions", [{**step, "command": "SELECT abs(-9223372036854775808);",
                                             "initial_retry_interval_seconds": 100}])  # fmt: skip
            host.run_job("refresh-stats")
            failed = host.run_job("migrate-tenants")["job_execution_id"]
            stopped = host.start_job("purge-sessions")
            host.ok("POST", f"/api/executions/{stopped}/cancel")
            host.wait_finished(stopped)
            host.ok("POST", f"/api/executions/{failed}/rerun")
            host.run_job("refresh-stats")
            target = next(t["target_ordinal"] for t in host.targets(failed)
                          if t["lifecycle"] == "Failed")  # fmt: skip
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 760})
                page.goto(f"{host.base}/api/ui/#key={host.keys.function_key}")
                page.get_by_role("link", name="refresh-stats").first.wait_for()
                page.locator("text=execution(s)").wait_for()
                page.screenshot(path=str(DOCS / "monitoring-overview.png"))
                page.set_viewport_size({"width": 1280, "height": 900})
                page.goto(f"{host.base}/api/ui/executions/{failed}?step=1&target={target}")
                page.locator("[data-testid=target-sql]").wait_for()
                page.locator("canvas.grid-canvas[data-drawn='240']").wait_for()
                page.screenshot(path=str(DOCS / "monitoring-execution.png"))
                browser.close()
        finally:
            host.stop()
    for name in ("monitoring-overview.png", "monitoring-execution.png"):
        print(f"{DOCS / name}: {(DOCS / name).stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
