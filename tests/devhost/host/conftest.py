"""One devhost subprocess on the sample app for the whole session (conformance suites)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.devhost.host.hostproc import SAMPLE_APP, HostProcess

FUNCTION_KEY = "sample-function-key"
MASTER_KEY = "sample-master-key"


@pytest.fixture(scope="session")
def devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """``python -m devhost tests/devhost/sample_app --port <free>`` on a temporary data folder."""
    data_dir = tmp_path_factory.mktemp("devhost-data")
    env = {
        "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
        "DEVHOST_MASTER_KEY": MASTER_KEY,
        "DEVHOST_ORCHESTRATOR_TIMEOUT": "5",  # test_a_blocking_orchestrator_fails_...
    }
    host = HostProcess.start(SAMPLE_APP, data_dir, env)
    try:
        yield host
    finally:
        host.stop()
