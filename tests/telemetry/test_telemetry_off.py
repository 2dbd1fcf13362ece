"""With no telemetry setting, telemetry costs nothing: the app loads and runs its hooks without
importing the OpenTelemetry SDK, an exporter or prometheus_client, and ``/api/metrics`` says
which setting turns it on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.jobs.host import ROOT

PROBE = """
import datetime as dt, json, sys, threading
import azure.functions as func
import function_app
from sqlfleet import telemetry
from activities import targets
from api.metrics import get_metrics

with telemetry.slot(threading.BoundedSemaphore(1)):
    pass
telemetry.schedule_lag("job", dt.datetime.now(dt.timezone.utc), dt.datetime.now(dt.timezone.utc))
response = get_metrics(func.HttpRequest("GET", "http://127.0.0.1/api/metrics", body=b""))
heavy = sorted(
    name for name in sys.modules
    if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter", "prometheus_client",
                        "azure.monitor", "sqlfleet.telemetry.pipeline"))
)
print(json.dumps({
    "active": telemetry.active() is not None,
    "slot_is_the_semaphore": type(telemetry.slot(threading.BoundedSemaphore(1))).__name__,
    "status": response.status_code,
    "body": json.loads(response.get_body()),
    "heavy": heavy,
}))
"""


def test_no_setting_no_sdk_and_no_metrics_endpoint(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "SQLFLEET_"))
    }
    env["SQLFLEET_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["active"] is False
    assert report["slot_is_the_semaphore"] == "BoundedSemaphore"
    assert report["heavy"] == []
    assert report["status"] == 404
    assert report["body"]["field"] == "SQLFLEET_PROMETHEUS_METRICS"
    assert "SQLFLEET_PROMETHEUS_METRICS=true" in report["body"]["message"]
