"""SQL Fleet against the loop a user would otherwise write: one job, one step, N target databases.

    .venv/bin/python bench/fleet.py                      # SQLite 10 100 1000 10000, PostgreSQL 100
    .venv/bin/python bench/fleet.py --sqlite 1000 --postgresql    # SQLite 1,000 only
    .venv/bin/python bench/fleet.py --quick              # SQLite 20, once: the smoke test's run
    .venv/bin/python bench/fleet.py --repeat 7 --sqlite 10        # seven timed rounds
    .venv/bin/python bench/fleet.py --latency            # sqlfleet start --wait vs a script
    .venv/bin/python bench/fleet.py --profile /tmp/prof  # also py-spy the host (collapsed stacks)

For each engine and N, in one run (``bench/README.md`` says more):

1. **Targets** (``bench/targets.py``): N SQLite databases in one folder (the "server"), or N
   databases on a PRIVATE PostgreSQL cluster reached with a password credential.
2. **Both sides warmed**: one untimed run of the baseline and one of SQL Fleet first, so that
   neither meets cold databases, a cold page cache or a host that has not run yet.
3. **Rounds, order alternated**: each round times the baseline (a ``ThreadPoolExecutor`` with
   pyodbc and the host's parallelism) and SQL Fleet (``POST /api/jobs/{name}/start`` until the
   execution's ``end_time`` as the host wrote it), the baseline first in even rounds and second
   in odd ones. The table the step creates is dropped after each side (untimed).
4. The **machine's limit**: the statements alone, one thread, then two processes.

Prints the medians of both, their ratio (SQL Fleet / baseline), the peak RSS of the host and its
script processes over the run, the host's RSS before and its peak during the first read of every
target of the last execution (API pages of 10,000, then ``sqlfleet get --json``: "read MiB",
before->peak, the host process alone), the task hub's and job database's size, where SQL Fleet's
time went, and the goals of issue 15: ratio <= 2.0 at SQLite N=10, <= 1.5 at N=100, <= 1.2 at
N=1,000 and PostgreSQL N=100, <= 1.1 at N=10,000; time(100,000) <= 11 x time(10,000); the host's
peak RSS while reading < 400 MB.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.host import (  # noqa: E402
    PY_SPY,
    FleetHost,
    files_size,
    host_parallelism,
    hub_name,
    profiled,
    wait_for,
)
from bench.targets import (  # noqa: E402
    CREDENTIAL,
    RESET,
    STATEMENTS,
    STEP_COMMAND,
    Fleet,
    disk_pace,
    machine_limit,
    on_every_target,
    postgres_fleet,
    sqlite_fleet,
)
from tests.support.servers import PrivatePostgres, start_private_postgres  # noqa: E402

__all__ = ["FleetHost", "disk_pace", "sqlite_fleet", "wait_for"]

JOB, GROUP = "bench", "bench-targets"
DEFAULT_SQLITE_SIZES = (10, 100, 1000, 10000)
DEFAULT_POSTGRESQL_SIZES = (100,)
QUICK_SIZE = 20
EXECUTION_TIMEOUT_SECONDS = 3600
RATIO_GOALS = {("sqlite", 10): 2.0, ("sqlite", 100): 1.5, ("sqlite", 1000): 1.2,
               ("sqlite", 10000): 1.1, ("postgresql", 100): 1.2}  # fmt: skip
SCALING_GOAL = 11.0  # time(100,000) / time(10,000)
# Sizes up to this get an untimed run of each side first.
WARM_UP_UP_TO = 10_000
PEAK_RSS_GOAL_MIB = 400 * 1000 * 1000 / 2**20  # 400 MB


def default_rounds(n: int) -> int:
    """Timed rounds per size: more where a run is short and noisy."""
    return 7 if n <= 100 else 3 if n <= 1000 else 1


@dataclasses.dataclass
class Result:
    engine: str
    n: int
    parallelism: int
    rounds: int
    baseline_seconds: float  # medians of the rounds
    fleet_seconds: float
    baseline_runs: list[float]
    fleet_runs: list[float]
    peak_rss_mib: float  # the host and its script processes, over the whole run
    # Reading every target of the last execution right after it (API pages, then the CLI):
    rss_before_read_mib: float  # the host alone, before the read
    peak_rss_read_mib: float  # the host alone, its peak during the read
    scripts_rss_read_mib: float  # its script processes (summed), which the read leaves alone
    host_cpu_seconds: tuple[float, float]  # user, system, per SQL Fleet run (mean)
    host_alone_cpu_seconds: float  # user + system of the host process alone, per run (mean)
    baseline_cpu_seconds: float  # user + system of the thread pool, per run (mean)
    hub_bytes: int
    job_db_bytes: int
    phases: dict[str, float]  # of the last SQL Fleet run
    one_thread_per_second: float
    two_processes_per_second: float
    synced_files_per_second: float | None = None  # SQLite: the disk's pace (disk_pace)

    @property
    def ratio(self) -> float:
        return self.fleet_seconds / self.baseline_seconds


def define_job(host: FleetHost, fleet: Fleet) -> None:
    step: dict[str, Any] = {"step_name": "bench", "command": STEP_COMMAND,
                            "target_group_name": GROUP}  # fmt: skip
    if fleet.credential:
        host.ok("PUT", f"/api/credentials/{CREDENTIAL}", fleet.credential)
        step["credential_name"] = CREDENTIAL
    host.ok("PUT", f"/api/target-groups/{GROUP}", {"members": [fleet.member]})
    host.ok("PUT", f"/api/jobs/{JOB}", {"steps": [step]})


def run_fleet(host: FleetHost) -> tuple[str, float, dt.datetime]:
    """Start the job and follow it by long-poll to its end; the execution id, the seconds from
    the start request to the end the host wrote (same machine, same clock), and when it began."""
    wall_start = dt.datetime.now(dt.timezone.utc)
    started = time.perf_counter()
    status, answer = host.call("POST", f"/api/jobs/{JOB}/start")
    if status != 202:
        raise SystemExit(f"starting the job answered {status}: {answer}")
    execution_id = answer["job_execution_id"]
    # until=ended: one answer at the end (as `sqlfleet start --wait` asks when not live).
    path = f"/api/executions/{execution_id}?targets=false&until=ended&wait=30"
    deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
    execution = host.ok("GET", path)
    while execution["is_active"]:
        if time.monotonic() > deadline:
            raise SystemExit(f"execution {execution_id} did not end in time")
        execution = host.ok("GET", path)
    ended = parse_time(execution["end_time"])
    elapsed = min(time.perf_counter() - started, (ended - wall_start).total_seconds())
    return execution_id, elapsed, wall_start


def every_target(host: FleetHost, execution_id: str) -> list[dict[str, Any]]:
    """Every target row of the execution, a page at a time (as a client that shows them)."""
    targets: list[dict[str, Any]] = []
    query = "top=10000"
    while True:
        page = host.ok("GET", f"/api/executions/{execution_id}/targets?{query}")
        targets += page["items"]
        if not page.get("continuation"):
            return targets
        query = f"top=10000&continuation={page['continuation']}"


def check_execution(
    host: FleetHost,
    fleet: Fleet,
    execution_id: str,
    started: dt.datetime,
    elapsed: float,
    targets: list[dict[str, Any]],
) -> dict[str, float]:
    """Every target (``targets``, all of the execution's) must have succeeded; answers the
    phases of the run."""
    execution = host.ok("GET", f"/api/executions/{execution_id}?targets=false")
    succeeded = sum(1 for t in targets if t["lifecycle"] == "Succeeded")
    if execution["lifecycle"] != "Succeeded" or succeeded != fleet.size:
        failed = next((t for t in targets if t["lifecycle"] != "Succeeded"), {})
        raise SystemExit(
            f"execution {execution_id} ended {execution['lifecycle']} with {succeeded} of "
            f"{fleet.size} targets succeeded; first other: {failed.get('last_message')}"
        )
    first = min(parse_time(t["start_time"]) for t in targets)
    last = max(parse_time(t["end_time"]) for t in targets)
    before = (first - started).total_seconds()
    during = (last - first).total_seconds()
    return {"to_first_target": before, "targets": during,
            "after_last_target": elapsed - before - during}  # fmt: skip


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def measure(
    fleet: Fleet, workdir: Path, parallelism: int, rounds: int, profile: Path | None,
    profiler: str,
) -> Result:  # fmt: skip
    pace = disk_pace(Path(fleet.member["server_name"])) if fleet.engine == "sqlite" else None
    folders = (Path(fleet.member["server_name"]),) if fleet.engine == "sqlite" else ()
    host = FleetHost(workdir, sqlite_roots=folders)
    host.start()
    try:
        assert host.process is not None
        define_job(host, fleet)

        baseline_cpu = [0.0]

        def baseline() -> float:
            before = os.times()
            seconds = on_every_target(fleet, STATEMENTS, parallelism)
            after = os.times()
            baseline_cpu[0] += after.user + after.system - before.user - before.system
            on_every_target(fleet, (RESET,), parallelism)
            return seconds

        def fleet_run() -> tuple[str, float, dt.datetime]:
            ran = run_fleet(host)
            on_every_target(fleet, (RESET,), parallelism)
            return ran

        if fleet.size <= WARM_UP_UP_TO:  # warm both sides, untimed (big runs warm themselves)
            baseline()
            fleet_run()
        baselines: list[float] = []
        fleets: list[float] = []
        last: tuple[str, float, dt.datetime] | None = None
        output = profile / f"{fleet.engine}-{fleet.size}" if profile else None
        user, system = host.cpu_seconds()
        alone = sum(host.cpu_seconds(host_alone=True))
        baseline_cpu[0] = 0.0
        with profiled(host.process.pid, output, profiler):  # the host idles in baselines
            for number in range(rounds):
                order = ("baseline", "fleet") if number % 2 == 0 else ("fleet", "baseline")
                for side in order:
                    if side == "baseline":
                        baselines.append(baseline())
                        continue
                    last = fleet_run()
                    fleets.append(last[1])
        after = host.cpu_seconds()
        alone = sum(host.cpu_seconds(host_alone=True)) - alone
        assert last is not None
        rss = host.peak_rss_mib()
        # The first read after the run is the one measured: the host as the run left it.
        before_read = host.memory_mib()[0]
        host.reset_peak_rss()
        targets = every_target(host, last[0])
        host.read_with_cli(last[0], workdir / "get.json")
        read_peak, scripts_rss = host.memory_mib("VmHWM")
        breakdown = check_execution(host, fleet, last[0], last[2], last[1], targets)
    finally:
        host.stop()
    one_thread, two_processes = machine_limit(fleet, STATEMENTS)
    on_every_target(fleet, (RESET,), parallelism)
    return Result(
        fleet.engine, fleet.size, parallelism, rounds,
        statistics.median(baselines), statistics.median(fleets), baselines, fleets,
        rss, before_read, read_peak, scripts_rss,
        ((after[0] - user) / rounds, (after[1] - system) / rounds),
        alone / rounds, baseline_cpu[0] / rounds,
        files_size(host.hub_dir, f"{hub_name()}.sqlite3"), files_size(host.app_data, "jobs.db"),
        breakdown, one_thread, two_processes, pace,
    )  # fmt: skip


# --- report ------------------------------------------------------------------------------------

HEADER = (
    f"{'engine':<10} {'N':>6} {'rounds':>6} {'base t/s':>9} {'fleet t/s':>9} {'ratio':>6} "
    f"{'limit 1t/2p t/s':>15} {'RSS MiB':>8} {'read MiB':>12} {'CPU/run':>9} {'host/pool':>9} "
    f"{'hub MiB':>8} {'jobdb MiB':>9}  phases s (to first target / targets / after)"
)


def row(r: Result) -> str:
    p = r.phases
    cpu = "{:.1f}+{:.1f}".format(*r.host_cpu_seconds)
    alone = f"{r.host_alone_cpu_seconds:.1f}/{r.baseline_cpu_seconds:.1f}"
    limit = f"{r.one_thread_per_second:.0f}/{r.two_processes_per_second:.0f}"
    read = f"{r.rss_before_read_mib:.0f}->{r.peak_rss_read_mib:.0f}"
    return (
        f"{r.engine:<10} {r.n:>6} {r.rounds:>6} {r.n / r.baseline_seconds:>9.0f} "
        f"{r.n / r.fleet_seconds:>9.0f} {r.ratio:>6.2f} {limit:>15} {r.peak_rss_mib:>8.1f} "
        f"{read:>12} {cpu:>9} {alone:>9} {r.hub_bytes / 2**20:>8.1f} "
        f"{r.job_db_bytes / 2**20:>9.1f}  {p['to_first_target']:.3f} / {p['targets']:.3f} / "
        f"{p['after_last_target']:.3f}"
    )


def goals(results: list[Result]) -> list[str]:
    """One line per goal the results can judge: MET or MISSED with the figure."""
    by = {(r.engine, r.n): r for r in results}
    lines = []

    def check(name: str, met: bool, figure: str) -> None:
        lines.append(f"{'MET   ' if met else 'MISSED'} {name}: {figure}")

    for (engine, n), goal in RATIO_GOALS.items():
        if (r := by.get((engine, n))) is not None:
            check(f"ratio <= {goal}, {engine} N={n}", r.ratio <= goal, f"{r.ratio:.2f}")
    small, big = by.get(("sqlite", 10000)), by.get(("sqlite", 100000))
    if small is not None and big is not None:
        times = big.fleet_seconds / small.fleet_seconds
        check("time(100000) <= 11 x time(10000), SQLite", times <= SCALING_GOAL, f"{times:.1f}x")
    for r in results:
        if r.synced_files_per_second is not None:
            lines.append(
                f"       (not a goal) SQLite N={r.n}: this disk creates, syncs and deletes "
                f"{r.synced_files_per_second:.0f} files/s; the statements alone run "
                f"{r.one_thread_per_second:.0f} t/s in one thread, "
                f"{r.two_processes_per_second:.0f} t/s in two processes"
            )
    if results:
        worst = max(results, key=lambda r: r.peak_rss_read_mib)
        check(
            "host peak RSS < 400 MB while every target is read (API pages, then the CLI)",
            worst.peak_rss_read_mib < PEAK_RSS_GOAL_MIB,
            f"{worst.peak_rss_read_mib:.0f} MiB ({worst.engine} N={worst.n}; "
            f"{worst.rss_before_read_mib:.0f} MiB before the read; its script processes, "
            f"which the read leaves alone, {worst.scripts_rss_read_mib:.0f} MiB more)",
        )
        run = max(results, key=lambda r: r.peak_rss_mib)
        lines.append(
            f"       (not a goal) peak RSS over the run, the host and its script processes: "
            f"{run.peak_rss_mib:.0f} MiB ({run.engine} N={run.n})"
        )
    return lines


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = " ".join(map(str, DEFAULT_SQLITE_SIZES))
    parser.add_argument(
        "--sqlite",
        type=int,
        nargs="*",
        default=None,
        metavar="N",
        help=f"SQLite sizes (default {sizes}; none: skip)",
    )
    parser.add_argument(
        "--postgresql",
        type=int,
        nargs="*",
        default=None,
        metavar="N",
        help="PostgreSQL sizes, private cluster (default 100; none: skip)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        metavar="R",
        help="timed rounds per size (default 7 to N=100, 3 to 1,000, then 1)",
    )
    parser.add_argument("--quick", action="store_true", help=f"SQLite N={QUICK_SIZE}, one round")
    parser.add_argument(
        "--latency",
        type=int,
        nargs="?",
        const=11,
        metavar="RUNS",
        help="time start --wait against a script instead (bench/latency.py)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the host into this folder")
    parser.add_argument(
        "--profiler",
        default=PY_SPY,
        help="profiler command line ({pid} and "
        "{output} are filled in; default: py-spy, collapsed stacks)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (host logs)")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.sqlite = arguments.sqlite or [QUICK_SIZE]
        arguments.postgresql = arguments.postgresql or []
        arguments.repeat = arguments.repeat or 1
    if arguments.sqlite is None:
        arguments.sqlite = list(DEFAULT_SQLITE_SIZES)
    if arguments.postgresql is None:
        arguments.postgresql = list(DEFAULT_POSTGRESQL_SIZES)
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.latency:
        from bench.latency import main as latency

        return latency(arguments.latency, arguments.json)
    parallelism = host_parallelism()
    workdir = Path(tempfile.mkdtemp(prefix="sqlfleet-bench-"))
    results: list[Result] = []
    print(f"statements: {STEP_COMMAND!r}; parallelism {parallelism}; work folder {workdir}")
    print(HEADER, flush=True)
    cluster: PrivatePostgres | None = None
    try:
        sizes = [("sqlite", n) for n in arguments.sqlite]
        sizes += [("postgresql", n) for n in arguments.postgresql]
        for engine, count in sizes:
            run = workdir / f"{engine}-{count}"
            if engine == "sqlite":
                fleet = sqlite_fleet(run / "targets", count)
            else:
                cluster = cluster or start_private_postgres()
                run.mkdir()
                fleet = postgres_fleet(cluster, count)
            rounds = arguments.repeat or default_rounds(count)
            results.append(
                measure(fleet, run, parallelism, rounds, arguments.profile, arguments.profiler)
            )
            print(row(results[-1]), flush=True)
    finally:
        if cluster is not None:
            cluster.destroy()
        if not arguments.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    for line in goals(results):
        print(line)
    if arguments.json:
        documents = [
            {**dataclasses.asdict(r), "ratio": r.ratio,
             "baseline_targets_per_second": r.n / r.baseline_seconds,
             "fleet_targets_per_second": r.n / r.fleet_seconds}
            for r in results
        ]  # fmt: skip
        arguments.json.write_text(json.dumps(documents, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
