"""One SQL Fleet host for the telemetry and notification tests: a real devhost subprocess
(``tests.telemetry.memory_host``) exporting OTLP over HTTP to a receiver the session starts,
serving Prometheus text at ``/api/metrics``, and keeping its spans in an in-memory exporter that
it writes out on SIGUSR1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sqlfleet.settings import host_app_settings
from tests.devhost.host.hostproc import host_keys
from tests.jobs.host import ROOT, JobsHost, poll
from tests.support.http_receiver import HttpReceiver, ReceivedRequest
from tests.support.servers import free_port


@dataclass
class TelemetryHost(JobsHost):
    dump_file: Path = Path()

    def launch(self, timeout: float = 90) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environment = {**host_app_settings(), **os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        arguments = ["--port", str(self.port), "--data-dir", str(self.hub_dir)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.telemetry.memory_host",
                    str(ROOT),
                    *arguments,
                    "--dump-file",
                    str(self.dump_file),
                ],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"host exited ({self.process.returncode}):\n{self.log()}")
            try:
                return self.call("GET", "/admin/host/ping", timeout=2).status == 200
            except OSError:
                return False

        poll(ready, timeout, f"host on port {self.port}")
        self.keys = host_keys(self.hub_dir, self.env)

    def spans(self, wanted: int, trace_id: str) -> list[dict[str, Any]]:
        """The spans of ``trace_id`` the host finished, once there are ``wanted`` of them."""
        assert self.process is not None

        def dumped() -> list[dict[str, Any]] | None:
            self.dump_file.unlink(missing_ok=True)
            self.process.send_signal(signal.SIGUSR1)  # type: ignore[union-attr]
            poll(self.dump_file.exists, 10, "the span dump", interval=0.05)
            spans = [s for s in json.loads(self.dump_file.read_text()) if s["trace_id"] == trace_id]
            return spans if len(spans) >= wanted else None

        result: list[dict[str, Any]] = poll(dumped, 20, f"{wanted} spans", interval=0.2)
        return result


def _ok(request: ReceivedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
    return 200, [("Content-Type", "application/x-protobuf")], b""


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver(_ok) as receiver:
        yield receiver


@pytest.fixture(scope="session")
def sqlite_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("telemetry-sqlite")


@pytest.fixture(scope="session")
def telemetry_host(
    tmp_path_factory: pytest.TempPathFactory, otlp_receiver: HttpReceiver, sqlite_root: Path
) -> Iterator[TelemetryHost]:
    folder = tmp_path_factory.mktemp("telemetry-host")
    env = {
        "SQLFLEET_DATA_DIR": str(folder / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
        "SQLFLEET_SQLITE_ROOTS": str(sqlite_root),
        "SQLFLEET_PROMETHEUS_METRICS": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.base,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
        "OTEL_BLRP_SCHEDULE_DELAY": "100",
    }
    host = TelemetryHost(folder, env, free_port(), dump_file=folder / "spans.json")
    host.launch()
    try:
        yield host
    finally:
        host.stop()
