"""A host process for the crash test: runs an engine on a SQLite file until it is killed.

    python tests/devhost/engine/crash_host.py <hub.sqlite3> <activity-log> <count>

Starts a fan-out of ``count`` slow activities (each appends its index to the log) and an
orchestration sleeping on a five-minute timer, prints "started", then runs until killed.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import azure.durable_functions as df  # noqa: E402

from devhost.taskhub import DurableFunctions  # noqa: E402
from tests.devhost.engine.engine_apps import functions  # noqa: E402


def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("Work", i) for i in range(count)])
    return sum(results)


def napper(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(minutes=5))
    return "woke"


def build_functions(log_path: str) -> DurableFunctions:
    lock = threading.Lock()

    def work(index: int) -> int:
        time.sleep(0.02)  # simulated I/O of the activity, so the kill lands mid fan-out
        with lock, open(log_path, "a") as log:
            log.write(f"{index}\n")
        return index

    return functions({"fan_out": fan_out, "napper": napper}, {"Work": work})


def main() -> None:
    from devhost.engine import Engine
    from devhost.store import SqliteTaskHubStore
    from tests.devhost.engine.engine_apps import client_input

    path, log_path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    engine = Engine(
        SqliteTaskHubStore(path), build_functions(log_path), max_concurrent_activities=2
    )
    engine.start_orchestration("napper", None, "crash-timer")
    engine.start_orchestration("fan_out", client_input(count), "crash-fanout")
    engine.start()
    print("started", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
