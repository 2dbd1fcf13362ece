"""Fixtures of the monitoring page's suite: one SQL Fleet host for the session (a real
``python -m devhost``, with a ``viewer`` function key that SQLFLEET_READ_ONLY_KEYS names),
Debian's Chromium driven headless by Playwright, SQLite targets, and screenshots of every page
saved under ``.artifacts/ui/`` (git ignores it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sqlfleet.cli.demo import make_sqlite_server
from tests.jobs.fleet import sqlite_folder_member, unique
from tests.jobs.host import JobsHost, start_with_viewer_key

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SQLFLEET_UI_ARTIFACTS", ROOT / ".artifacts" / "ui"))
CHROMIUM = Path(os.environ.get("SQLFLEET_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class UiHost:
    host: JobsHost
    viewer_key: str

    @property
    def key(self) -> str:
        assert self.host.keys.function_key
        return self.host.keys.function_key


@pytest.fixture(scope="session")
def ui_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiHost]:
    folder = tmp_path_factory.mktemp("ui-host")
    env = {
        "SQLFLEET_DATA_DIR": str(folder / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
        # Tests make their SQLite folders in their own tmp_path: all under the session's base.
        "SQLFLEET_SQLITE_ROOTS": str(tmp_path_factory.getbasetemp()),
    }
    host, viewer = start_with_viewer_key(folder, env)
    try:
        yield UiHost(host, viewer)
    finally:
        host.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/bootstrap.sh installs Debian's)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def open_page(browser: Any, ui_host: UiHost) -> Iterator[Callable[..., Any]]:
    """``open_page(path, key=..., viewport=...)``: a fresh tab (its own sessionStorage) at
    ``/api/ui/<path>``, the key given in the URL fragment as ``sqlfleet ui`` gives it. Page
    errors fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_(
        path: str = "", *, key: str | None = "default", viewport: dict[str, int] = LAPTOP
    ) -> Any:
        context = browser.new_context(viewport=viewport, timezone_id="Europe/Paris")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        chosen = ui_host.key if key == "default" else key
        fragment = f"#key={chosen}" if chosen else ""
        page.goto(f"{ui_host.host.base}/api/ui/{path}{fragment}")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture
def shot(artifacts: Path) -> Callable[[Any, str], Path]:
    def save(page: Any, name: str) -> Path:
        path = artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture
def sqlite_group(ui_host: UiHost, tmp_path: Path) -> str:
    """A target group of three SQLite databases (db1, db2, db3)."""
    folder = tmp_path / "server"
    make_sqlite_server(folder)
    name = unique("group")
    ui_host.host.ok(
        "PUT", f"/api/target-groups/{name}", {"members": [sqlite_folder_member(folder)]}
    )
    return name
