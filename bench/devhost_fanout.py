"""Fan-out/fan-in of N no-op activities through the HTTP API of a real devhost subprocess.

    .venv/bin/python bench/devhost_fanout.py [N ...]      (default: 100 1000 10000)

For each N a fresh ``python -m devhost`` runs a tiny app (written to a temporary folder) on a
fresh data folder; the orchestration is started with ``POST /runtime/webhooks/durabletask/
orchestrators/fan_out`` and its status polled until Completed. Prints activities/s (from the
start request to the first Completed status), the host process's peak RSS (VmHWM) and the
number of history rows the task hub stored for the instance.

Goals: >= 1,000 activities/s at N=1,000, near-linear to 10,000, peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUB = "FanOutBench"

APP = """
import azure.durable_functions as df
from contextlib import closing

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def fan_out(context):
    count = context.get_input()["count"]
    results = yield context.task_all([context.call_activity("noop", i) for i in range(count)])
    return len(results)


@app.activity_trigger(input_name="value")
def noop(value):
    return value
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def system_key(data_dir: Path) -> str:
    """The Durable HTTP API's key, which the host made in its data folder on start."""
    document = json.loads((data_dir / "secrets" / "host.json").read_text(encoding="utf-8"))
    return str(document["systemKeys"][0]["value"])


def request(method: str, url: str, body: object = None, key: str = "") -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["x-functions-key"] = key
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def history_rows(data_dir: Path, instance_id: str) -> int:
    database = data_dir / f"{HUB}.sqlite3"
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return int(
            db.execute(
                "SELECT count(*) FROM history WHERE instance_id = ?", (instance_id,)
            ).fetchone()[0]
        )


def run_one(count: int, workdir: Path, max_activities: int | None) -> dict[str, float]:
    app, data = workdir / f"app-{count}", workdir / f"data-{count}"
    app.mkdir()
    (app / "function_app.py").write_text(APP)
    durable: dict[str, object] = {"hubName": HUB}
    if max_activities:
        durable["maxConcurrentActivityFunctions"] = max_activities
    (app / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"durableTask": durable}})
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(workdir / f"host-{count}.log", "wb")  # noqa: SIM115
    host = subprocess.Popen(
        [sys.executable, "-m", "devhost", str(app), "--port", str(port), "--data-dir", str(data)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request("GET", f"{base}/admin/host/ping")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or host.poll() is not None:
                raise SystemExit(f"devhost did not start; see {log.name}")
            time.sleep(0.1)
        key = system_key(data)
        webhook = f"{base}/runtime/webhooks/durabletask"
        started = time.perf_counter()
        status, body = request("POST", f"{webhook}/orchestrators/fan_out", {"count": count}, key)
        assert status == 202, (status, body)
        instance = body["id"]  # type: ignore[index]
        while True:
            _, state = request("GET", f"{webhook}/instances/{instance}", key=key)
            if state["runtimeStatus"] in ("Completed", "Failed", "Terminated"):  # type: ignore[index]
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        assert state["runtimeStatus"] == "Completed" and state["output"] == count, state  # type: ignore[index]
        return {
            "n": count,
            "seconds": elapsed,
            "activities_per_second": count / elapsed,
            "peak_rss_mib": peak_rss_mib(host.pid),
            "history_rows": history_rows(data, instance),
        }
    finally:
        host.send_signal(signal.SIGTERM)
        try:
            host.wait(30)
        except subprocess.TimeoutExpired:
            host.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 10000])
    parser.add_argument(
        "--max-activities",
        type=int,
        default=None,
        help="host.json maxConcurrentActivityFunctions (default: the host's)",
    )
    arguments = parser.parse_args()
    print(f"{'N':>7} {'seconds':>9} {'activities/s':>13} {'peak RSS MiB':>13} {'history rows':>13}")
    with tempfile.TemporaryDirectory(prefix="devhost-bench-") as folder:
        for count in arguments.sizes:
            r = run_one(count, Path(folder), arguments.max_activities)
            print(
                f"{r['n']:>7} {r['seconds']:>9.2f} {r['activities_per_second']:>13.0f} "
                f"{r['peak_rss_mib']:>13.1f} {r['history_rows']:>13}",
                flush=True,
            )


if __name__ == "__main__":
    main()
