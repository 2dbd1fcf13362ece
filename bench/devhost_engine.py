"""Fan-out/fan-in throughput of the devhost durable engine, without HTTP.

    .venv/bin/python bench/devhost_engine.py [N ...]      (default: 100 1000 10000)

Each N runs in a fresh subprocess (so peak RSS is per N) on a fresh SQLite file: one orchestration
calls N no-op activities with task_all and returns how many results it got. Prints activities/s
(from start_orchestration to Completed), peak RSS, history rows and orchestrator invocations.
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _run_one(count: int) -> dict[str, float]:
    import azure.durable_functions as df

    from devhost.engine import Engine
    from devhost.store import SqliteTaskHubStore
    from devhost.taskhub import DurableFunctions, RuntimeStatus

    def fan_out(context: df.DurableOrchestrationContext):
        n = context.get_input()
        results = yield context.task_all([context.call_activity("noop", i) for i in range(n)])
        return len(results)

    invocations = {"orchestrator": 0}

    class _Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Functions.fan_out" in record.getMessage():
                invocations["orchestrator"] += 1

    log = logging.getLogger("devhost.invocations")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(_Count())

    functions = DurableFunctions(
        orchestrators={"fan_out": df.Orchestrator.create(fan_out)},
        activities={"noop": lambda text: text},
    )
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteTaskHubStore(str(Path(folder) / "hub.sqlite3"))
        engine = Engine(store, functions)
        engine.start()
        started = time.perf_counter()
        instance_id = engine.start_orchestration("fan_out", json.dumps(json.dumps(count)))
        while True:
            status = engine.get_status(instance_id)
            assert status is not None
            if status.runtime_status.is_terminal:
                break
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        engine.stop()
        assert status.runtime_status is RuntimeStatus.COMPLETED, status.output
        assert status.output == str(count), status.output
        rows = len(store.load_history(instance_id))
        store.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "n": count,
        "seconds": elapsed,
        "activities_per_second": count / elapsed,
        "peak_rss_mb": peak_kb / 1024,
        "history_rows": rows,
        "orchestrator_invocations": invocations["orchestrator"],
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(_run_one(int(argv[1]))))
        return
    counts = [int(a) for a in argv] or [100, 1000, 10000]
    print(
        f"{'N':>7} {'seconds':>8} {'activities/s':>13} {'peak RSS':>9} {'history rows':>13} "
        f"{'replays':>8}"
    )
    for count in counts:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(count)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"{r['n']:>7} {r['seconds']:>8.2f} {r['activities_per_second']:>13.0f} "
            f"{r['peak_rss_mb']:>7.0f}MB {r['history_rows']:>13} "
            f"{r['orchestrator_invocations']:>8}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
