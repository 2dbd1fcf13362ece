"""The monitoring page in a real headless Chromium against a real host: a job started from the
page, its progress live without a reload, a failing target's messages, error and SQL, a rerun
of the failed targets, stop, a read-only key that sees no action, the definitions pages, the
key prompt, a phone's width and keyboard use. Every page is saved as a screenshot."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.fleet import SECRET, PostgresFleet, unique
from tests.jobs.host import poll
from tests.support.servers import ServerAddress
from tests.ui.conftest import PHONE, UiHost

expect = pytest.importorskip("playwright.sync_api").expect

FAIL_ON_DB2 = (
    "SELECT '$(target_database_name)' AS db, 42 AS answer; "
    "SELECT CASE WHEN '$(target_database_name)' = 'db2' THEN abs(-9223372036854775808) END;"
)
ACTIONS = "[data-action]"


def make_job(ui: UiHost, group: str, **step: Any) -> str:
    name = unique("job")
    ui.host.put_job(name, [{"step_name": "check", "target_group_name": group, **step}])
    return name


def db2_ordinal(ui: UiHost, execution_id: str) -> int:
    targets = ui.host.targets(execution_id)
    return next(t["target_ordinal"] for t in targets if t["target_database_name"] == "db2")


def test_start_a_job_watch_it_live_and_open_the_failing_target(
    ui_host: UiHost, sqlite_group: str, open_page: Callable[..., Any], shot: Callable[..., Path]
) -> None:
    job = make_job(ui_host, sqlite_group, command=FAIL_ON_DB2, retry_attempts=1,
                   initial_retry_interval_seconds=3)  # fmt: skip
    page = open_page()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert "#key" not in page.url, "the key leaves the address bar at once"
    shot(page, "overview-laptop")
    page.get_by_role("button", name=f"Start job {job}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("group", name="Parameters")).to_contain_text("no parameters")
    dialog.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/api/ui/executions/[0-9a-f-]{36}"))
    execution_id = page.url.split("/executions/")[1].split("?")[0]
    page.evaluate("window.__sameDocument = true")
    # Live: the retry wait of db2 shows, then the end, with no reload of the page.
    legend = page.locator(".targets .legend")
    expect(legend).to_contain_text("WaitingForRetry 1", timeout=20_000)
    shot(page, "execution-live")
    expect(page.locator("h1 .badge")).to_have_text("Failed", timeout=30_000)
    expect(legend).to_contain_text("Failed 1")
    expect(legend).to_contain_text("Succeeded 2")
    assert page.evaluate("window.__sameDocument") is True
    assert ui_host.host.execution(execution_id, targets="false")["lifecycle"] == "Failed"

    # Keyboard: into the grid, along to db2, Enter opens its detail.
    grid = page.locator("canvas.grid-canvas")
    expect(grid).to_have_attribute("data-drawn", "3")
    grid.focus()
    for _ in range(db2_ordinal(ui_host, execution_id)):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    detail = page.locator("aside.detail")
    expect(detail.get_by_role("heading", name=re.compile("Target"))).to_be_visible()
    expect(detail).to_contain_text("db2")
    expect(detail.get_by_test_id("target-error")).to_contain_text("integer overflow")
    # The engine's error as it gave it: SQLite's result code, the script's line, its class.
    expect(detail.get_by_test_id("target-error-detail")).to_contain_text("error 1")
    expect(detail.get_by_test_id("target-error-detail")).to_contain_text("class unknown")
    expect(detail.get_by_test_id("target-sql")).to_contain_text("'db2' AS db")
    expect(detail.locator("table").first).to_contain_text("failed, retried")
    assert "target=" in page.url
    shot(page, "execution-target")
    page.get_by_role("button", name="Timeline").click()
    expect(page.locator("canvas.timeline-canvas")).to_have_attribute("data-drawn", "3")
    shot(page, "execution-timeline")
    # Times are the viewer's, with UTC on hover.
    first_time = page.locator("time").first
    assert first_time.get_attribute("title", timeout=5_000).endswith("UTC")


def test_start_a_job_with_parameters_from_the_page(
    ui_host: UiHost, sqlite_group: str, open_page: Callable[..., Any]
) -> None:
    name = unique("job")
    step = {
        "step_name": "check",
        "target_group_name": sqlite_group,
        "retry_attempts": 0,
        "command": "SELECT $(who) AS who, $(n) * 2 AS twice, length($(pin)) AS pin_length",
    }
    declared = [{"name": "who"}, {"name": "n", "type": "int", "default": 21},
                {"name": "pin", "secret": True}]  # fmt: skip
    ui_host.host.put_job(name, [step], parameters=declared)
    page = open_page()
    page.get_by_role("button", name=f"Start job {name}").click()
    dialog = page.get_by_role("dialog")
    fieldset = dialog.get_by_role("group", name="Parameters")
    expect(fieldset.get_by_label("n (int)")).to_have_attribute("placeholder", "default 21")
    fieldset.get_by_label("who (string)").fill("it's me")
    fieldset.get_by_label("pin (string, secret)").fill("4321")
    dialog.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/api/ui/executions/[0-9a-f-]{36}"))
    execution_id = page.url.split("/executions/")[1].split("?")[0]
    execution = ui_host.host.wait_finished(execution_id)
    assert execution["lifecycle"] == "Succeeded"
    assert execution["parameters"] == {"who": "it's me", "n": "21", "pin": "***"}
    page.goto(f"{page.url.split('?')[0]}?step=1&target=0")
    detail = page.locator("aside.detail")
    expect(detail.get_by_test_id("target-sql")).to_contain_text("SELECT 'it''s me' AS who, 21 * 2")
    expect(detail.get_by_test_id("target-sql")).to_contain_text("length('***')")
    assert "4321" not in page.content()


@pytest.fixture
def pg_fleet(postgres_server: ServerAddress, ui_host: UiHost) -> Iterator[tuple[str, str]]:
    """A PostgreSQL database, a password credential for it, and a group: (group, database)."""
    fleet = PostgresFleet(postgres_server, unique("ui_login"))
    fleet.create_role()
    try:
        database = fleet.create_database(unique("uidb"))
        credential, group = unique("pgcred"), unique("pggroup")
        login = {"kind": "password", "username": fleet.role, "password": SECRET}
        ui_host.host.ok("PUT", f"/api/credentials/{credential}", login)
        member = {"target_type": "database", "engine": "postgresql", "database_name": database,
                  "server_name": postgres_server.host, "port": postgres_server.port}  # fmt: skip
        ui_host.host.ok("PUT", f"/api/target-groups/{group}", {"members": [member]})
        yield group, credential
    finally:
        fleet.drop_all()
        fleet.drop_role()


def test_a_failing_targets_messages_error_and_sql_from_a_pasted_url(
    ui_host: UiHost, pg_fleet: tuple[str, str], open_page: Callable[..., Any],
    shot: Callable[..., Path], postgres_server: ServerAddress,
) -> None:  # fmt: skip
    group, credential = pg_fleet
    # The script succeeds and says so (a NOTICE); keeping its rows in an output table on a
    # database that does not exist fails the target.
    job = make_job(
        ui_host, group, credential_name=credential, retry_attempts=0,
        command="DO $$ BEGIN RAISE NOTICE 'checked %', current_database(); END $$; "
        "SELECT '$(target_database_name)' AS db;",
        output={"engine": "postgresql", "server_name": postgres_server.host,
                "port": postgres_server.port, "database_name": "no_such_database_ui",
                "table_name": "results", "credential_name": credential},
    )  # fmt: skip
    execution = ui_host.host.run_job(job)
    assert execution["lifecycle"] == "Failed"
    page = open_page(f"executions/{execution['job_execution_id']}?step=1&target=0")
    detail = page.locator("aside.detail")
    expect(detail.get_by_test_id("target-messages")).to_contain_text("NOTICE: checked uidb_")
    expect(detail.get_by_test_id("target-error")).to_contain_text("writing the output table")
    expect(detail.get_by_test_id("target-sql")).to_contain_text("SELECT 'uidb_")
    shot(page, "execution-target-messages")
    page.goto(f"{ui_host.host.base}/api/ui/credentials")
    expect(page.get_by_role("cell", name=credential, exact=True)).to_be_visible()
    shot(page, "credentials")
    content = page.content()
    assert SECRET not in content and ui_host.key not in content


def test_rerun_the_failed_targets_from_the_page(
    ui_host: UiHost, sqlite_group: str, open_page: Callable[..., Any], shot: Callable[..., Path]
) -> None:
    job = make_job(ui_host, sqlite_group, command=FAIL_ON_DB2, retry_attempts=0)
    original = ui_host.host.run_job(job)["job_execution_id"]
    page = open_page(f"executions/{original}")
    rerun = page.get_by_role("button", name="Rerun failed (1)")
    expect(rerun).to_be_enabled()
    rerun.click()
    page.get_by_role("dialog").get_by_role("button", name="Rerun").click()
    page.wait_for_url(re.compile(r"/api/ui/executions/(?!" + original + r")[0-9a-f-]{36}"))
    rerun_id = page.url.split("/executions/")[1].split("?")[0]
    expect(page.get_by_role("link", name=original)).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("Failed", timeout=30_000)
    done = ui_host.host.wait_finished(rerun_id)
    assert done["rerun_of_job_execution_id"] == original
    assert [t["target_database_name"] for t in done["steps"][0]["targets"]] == ["db2"]
    expect(page.locator(".targets h2")).to_contain_text(": 1")
    shot(page, "execution-rerun")
    page.get_by_role("link", name=original).click()
    expect(page.get_by_role("link", name=rerun_id[:8])).to_be_visible()


def test_stop_an_execution_from_the_page(
    ui_host: UiHost, sqlite_group: str, open_page: Callable[..., Any], shot: Callable[..., Path]
) -> None:
    job = make_job(ui_host, sqlite_group, command="SELECT abs(-9223372036854775808);",
                   retry_attempts=3, initial_retry_interval_seconds=120)  # fmt: skip
    execution_id = ui_host.host.start_job(job)
    page = open_page(f"executions/{execution_id}")
    expect(page.locator(".targets .legend")).to_contain_text("WaitingForRetry 3", timeout=30_000)
    page.get_by_role("button", name="Stop").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop").click()
    expect(page.locator("h1 .badge")).to_have_text("Canceled", timeout=30_000)
    expect(page.locator(".targets .legend")).to_contain_text("Canceled 3")
    assert ui_host.host.execution(execution_id, targets="false")["lifecycle"] == "Canceled"
    expect(page.get_by_role("button", name="Remove")).to_be_visible()
    shot(page, "execution-stopped")
    page.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    poll(lambda: ui_host.host.call("GET", f"/api/executions/{execution_id}").status == 404,
         10, "the removed execution to be gone")  # fmt: skip


def test_a_read_only_key_sees_no_action(
    ui_host: UiHost, sqlite_group: str, open_page: Callable[..., Any], shot: Callable[..., Path]
) -> None:
    job = make_job(ui_host, sqlite_group, command=FAIL_ON_DB2, retry_attempts=0)
    execution_id = ui_host.host.run_job(job)["job_execution_id"]
    page = open_page(key=ui_host.viewer_key)
    expect(page.get_by_role("status")).to_contain_text("read-only")
    expect(page.get_by_role("link", name=job)).to_be_visible()
    expect(page.locator(ACTIONS)).to_have_count(0)
    shot(page, "overview-read-only")
    # Each page is drawn in one go once its data came: what it shows, it shows with it.
    for path, drawn in ((f"executions/{execution_id}", "h1 .badge"), (f"jobs/{job}", ".sql"),
                        ("jobs", f"a[href='jobs/{job}']")):  # fmt: skip
        page.goto(f"{ui_host.host.base}/api/ui/{path}")
        expect(page.locator(drawn).first).to_be_visible()
        expect(page.locator(ACTIONS)).to_have_count(0)
        expect(
            page.get_by_role("button", name=re.compile("Start|Stop|Rerun|Remove"))
        ).to_have_count(0)
    shot(page, "jobs-read-only")
    # And the API refuses that key whatever the page does.
    status = page.evaluate(
        """async ([path, key]) => (await fetch(path, {method: "POST",
             headers: {"x-functions-key": key}})).status""",
        [f"/api/executions/{execution_id}/rerun", ui_host.viewer_key],
    )
    assert status == 403


def test_definitions_jobs_versions_difference_and_group_preview(
    ui_host: UiHost, sqlite_group: str, open_page: Callable[..., Any], shot: Callable[..., Path]
) -> None:
    job = make_job(ui_host, sqlite_group, command="SELECT 1 AS one;")
    ui_host.host.put_job(job, [{"step_name": "check", "target_group_name": sqlite_group,
                                "command": "SELECT 2 AS two;"}])  # fmt: skip
    page = open_page(f"jobs/{job}")
    diff = page.get_by_test_id("version-diff")
    expect(diff).to_contain_text("-     SELECT 1 AS one;")
    expect(diff).to_contain_text("+     SELECT 2 AS two;")
    assert "a=1" in page.url and "b=2" in page.url
    shot(page, "job-versions")
    page.goto(f"{ui_host.host.base}/api/ui/target-groups/{sqlite_group}")
    expect(page.get_by_text("3 database(s) now")).to_be_visible()
    for database in ("db1", "db2", "db3"):
        expect(page.get_by_role("cell", name=database, exact=True)).to_be_visible()
    shot(page, "target-group-preview")
    page.get_by_role("link", name="Target groups", exact=True).first.click()
    expect(page.get_by_role("link", name=sqlite_group)).to_be_visible()
    shot(page, "target-groups")


def test_the_key_prompt(ui_host: UiHost, open_page: Callable[..., Any]) -> None:
    page = open_page(key=None)
    expect(page.get_by_role("heading", name="Sign in with a function key")).to_be_visible()
    page.get_by_label("Function key").fill("not-the-key-of-this-host")
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("alert")).to_contain_text("refused")
    page.get_by_label("Function key").fill(ui_host.key)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert ui_host.key not in page.content()
    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_label("Function key")).to_be_visible()


def test_a_phone_width_and_accessible_names(
    ui_host: UiHost, sqlite_group: str, open_page: Callable[..., Any], shot: Callable[..., Path]
) -> None:
    job = make_job(ui_host, sqlite_group, command=FAIL_ON_DB2, retry_attempts=0)
    execution_id = ui_host.host.run_job(job)["job_execution_id"]
    page = open_page(f"executions/{execution_id}?target=0", viewport=PHONE)
    expect(page.locator("aside.detail")).to_contain_text("Target 0")
    expect(page.locator("canvas.grid-canvas")).to_have_attribute("data-drawn", "3")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] + 1, f"the page scrolls sideways on a phone: {widths}"
    shot(page, "execution-phone")
    page.goto(f"{ui_host.host.base}/api/ui/")
    expect(page.get_by_role("heading", name="Executions")).to_be_visible()
    shot(page, "overview-phone")
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, a[href], input, select, canvas')]
            .filter((e) => !((e.getAttribute('aria-label') || e.textContent || '').trim()
              || (e.id && document.querySelector(`label[for="${e.id}"]`))))
            .map((e) => e.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    # Keyboard: the skip link comes first, then the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
