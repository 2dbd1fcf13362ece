"""How long ``sqlfleet start JOB --wait`` takes on a one-target SQLite job, against a
``python -c`` script that runs the same statements on the same database with a thread pool.

    .venv/bin/python bench/fleet.py --latency        # 11 runs of each, alternated
    .venv/bin/python bench/latency.py 21             # 21 runs of each

Both are whole processes started the way a user starts them (the CLI's console script, the
script's interpreter), timed from spawn to exit, one after the other, the order alternated
each run, after one untimed run of each. The table the step creates is dropped after each
(untimed). Goal (issue 15): the CLI's median at most 4 x the script's.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import JOB, define_job  # noqa: E402
from bench.host import FleetHost  # noqa: E402
from bench.targets import RESET, STATEMENTS, on_every_target, sqlite_fleet  # noqa: E402

GOAL = 4.0
SCRIPT = """
import sys
from concurrent.futures import ThreadPoolExecutor
import pyodbc

def one(text):
    connection = pyodbc.connect(text, autocommit=True, timeout=30)
    cursor = connection.cursor()
    for statement in sys.argv[2:]:
        cursor.execute(statement)
        if cursor.description is not None:
            cursor.fetchall()
    connection.close()

with ThreadPoolExecutor(max_workers=16) as pool:
    list(pool.map(one, [sys.argv[1]]))
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{command[0]} exited {run.returncode}: {run.stderr or run.stdout}")
    return seconds


def main(runs: int = 11, json_path: Path | None = None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="sqlfleet-latency-"))
    fleet = sqlite_fleet(workdir / "targets", 1)
    host = FleetHost(workdir, sqlite_roots=(workdir / "targets",))
    host.start()
    try:
        define_job(host, fleet)
        # PYTHONPATH: the CLI of this checkout, whichever one the virtual environment installed.
        env = {**os.environ, "SQLFLEET_URL": host.base, "SQLFLEET_FUNCTION_KEY": host.key or "",
               "PYTHONPATH": str(ROOT)}  # fmt: skip
        sides = {
            "cli": [str(Path(sys.executable).parent / "sqlfleet"), "start", JOB, "--wait"],
            "script": [sys.executable, "-c", SCRIPT, fleet.connection_strings[0], *STATEMENTS],
        }
        times: dict[str, list[float]] = {"cli": [], "script": []}
        for number in range(runs + 1):
            order = ("cli", "script") if number % 2 == 0 else ("script", "cli")
            for side in order:
                seconds = timed(sides[side], env)
                on_every_target(fleet, (RESET,), 1)
                if number:  # the first round warms both, untimed
                    times[side].append(seconds)
    finally:
        host.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    cli, script = (statistics.median(times[side]) for side in ("cli", "script"))
    p90 = {side: statistics.quantiles(times[side], n=10)[-1] for side in times}
    ratio = cli / script
    print(f"sqlfleet start {JOB} --wait, one SQLite target, {runs} runs each (alternated):")
    print(f"  CLI    median {cli * 1000:.0f} ms  p90 {p90['cli'] * 1000:.0f} ms")
    print(f"  script median {script * 1000:.0f} ms  p90 {p90['script'] * 1000:.0f} ms")
    print(f"{'MET   ' if ratio <= GOAL else 'MISSED'} CLI / script <= {GOAL}: {ratio:.2f}")
    if json_path:
        json_path.write_text(json.dumps({"runs": times, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 11))
