"""One real devhost process per conformance module, on that module's app folder.

A module names its app with ``APP = "<folder under apps/>"``; the ``app_host`` fixture starts
``python -m devhost apps/<APP> --port <free> --data-dir <tmp>`` once for the module and stops it
at the end. Nothing else is shared: every module gets a fresh task hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devhost.host.hostproc import HostProcess

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="module")
def app_host(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    name = request.module.APP
    host = HostProcess.start(APPS / name, tmp_path_factory.mktemp(f"devhost-{name}"))
    try:
        yield host
    finally:
        host.stop()
