"""The host's memory while every target of a big execution is read, through the API and the CLI.

    .venv/bin/python bench/read_memory.py                    # 100,000 targets, folder reused
    .venv/bin/python bench/read_memory.py --targets 20000 --folder /tmp/read-20000
    .venv/bin/python bench/read_memory.py --run              # read right after running it again

The first run makes N SQLite target databases and runs a one-step job on all of them with a
local host (minutes at 100,000), keeps the folder (targets, job database, task hub), and
measures the read on that same host, right after the execution: the host as the goal meets it
in use. Every later run on the folder starts a fresh host on it and measures the read there,
in seconds; ``--run`` also runs the job once more on a copy of the folder's job database and
task hub (the targets are shared) and measures the read of that execution on that host. For
each read it prints:

- the host's RSS before the read (``VmRSS``), and its peak during the read (``VmHWM`` after
  writing 5 to ``/proc/PID/clear_refs``), the host alone; its script processes apart;
- the API read: every page of ``GET /api/executions/{id}/targets?top=...`` (this script,
  counting the items, keeping none), and this script's own peak;
- the CLI read: ``sqlfleet get ID --json`` (every target, a page at a time, printed as one
  document), and the CLI process's peak.

Goal (issue 15): the host's peak during each read < 400 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import PEAK_RSS_GOAL_MIB, define_job, run_fleet  # noqa: E402
from bench.host import FleetHost, reset_peak_rss, status_kib  # noqa: E402
from bench.targets import sqlite_fleet  # noqa: E402

DEFAULT_TARGETS = 100_000
API_PAGE = 10_000
DOCUMENT_TOP = 10_000  # the most targets an execution document holds
RECORD = "execution.json"


def mib(kib: int) -> float:
    return kib / 1024


@contextlib.contextmanager
def peaks(host: FleetHost) -> Iterator[dict[str, float]]:
    """The host's RSS before the block, and the peaks during it of the host, of its script
    processes (summed) and of this process, in MiB (filled in when the block ends)."""
    assert host.process is not None
    pid = host.process.pid
    children = [p for p in host.processes() if p != pid]
    figures = {"host_before": mib(status_kib(pid, "VmRSS"))}
    for process in [pid, *children, "self"]:
        reset_peak_rss(process)
    yield figures
    figures["host_peak"] = mib(status_kib(pid, "VmHWM"))
    figures["host_after"] = mib(status_kib(pid, "VmRSS"))
    figures["scripts_peak"] = mib(sum(status_kib(p, "VmHWM") for p in children))
    figures["reader_peak"] = mib(status_kib("self", "VmHWM"))


def read_api(host: FleetHost, execution_id: str, top: int) -> tuple[int, float, dict[str, int]]:
    """Every target through the API pages, none kept: (pages, seconds, count per lifecycle)."""
    lifecycles: Counter[str] = Counter()
    pages, query = 0, f"top={top}"
    started = time.perf_counter()
    while True:
        page = host.ok("GET", f"/api/executions/{execution_id}/targets?{query}")
        pages += 1
        lifecycles.update(target["lifecycle"] for target in page["items"])
        if not page.get("continuation"):
            return pages, time.perf_counter() - started, dict(lifecycles)
        query = f"top={top}&continuation={page['continuation']}"
        del page


def measure_reads(host: FleetHost, execution_id: str, top: int, label: str) -> list[str]:
    lines = []
    with peaks(host) as api:
        pages, seconds, lifecycles = read_api(host, execution_id, top)
    count = sum(lifecycles.values())
    lines.append(
        f"{label} API  top={top}: {count} targets in {pages} pages, {seconds:.1f} s; "
        f"host {api['host_before']:.0f} MiB before, peak {api['host_peak']:.0f}, after "
        f"{api['host_after']:.0f}; script processes peak {api['scripts_peak']:.0f}; "
        f"this reader peak {api['reader_peak']:.0f} ({lifecycles})"
    )
    with peaks(host) as cli:
        seconds, cli_peak, targets = host.read_with_cli(execution_id, host.workdir / "get.json")
    lines.append(
        f"{label} CLI  get --json: {targets} targets, {seconds:.1f} s; host "
        f"{cli['host_before']:.0f} MiB before, peak {cli['host_peak']:.0f}, after "
        f"{cli['host_after']:.0f}; script processes peak {cli['scripts_peak']:.0f}; "
        f"the CLI's peak {cli_peak:.0f}"
    )
    with peaks(host) as document:
        started = time.perf_counter()
        held = host.ok("GET", f"/api/executions/{execution_id}?top={DOCUMENT_TOP}")
        seconds = time.perf_counter() - started
        count = sum(len(step["targets"]) for step in held["steps"])
        del held
    lines.append(
        f"{label} API  execution document ?top={DOCUMENT_TOP}: {count} targets, {seconds:.1f} s; "
        f"host {document['host_before']:.0f} MiB before, peak {document['host_peak']:.0f}, "
        f"after {document['host_after']:.0f}"
    )
    worst = max(api["host_peak"], cli["host_peak"], document["host_peak"])
    scripts = max(api["scripts_peak"], cli["scripts_peak"], document["scripts_peak"])
    verdict = "MET   " if worst < PEAK_RSS_GOAL_MIB else "MISSED"
    lines.append(
        f"{verdict} {label} host peak while reading < 400 MB: {worst:.0f} MiB (with its script "
        f"processes, which the reads leave alone: {worst + scripts:.0f} MiB)"
    )
    return lines


@contextlib.contextmanager
def running_host(folder: Path, targets: Path | None = None) -> Iterator[FleetHost]:
    host = FleetHost(folder, sqlite_roots=(targets or folder / "targets",))
    host.start()
    try:
        yield host
    finally:
        host.stop()


def prepare(folder: Path, count: int, top: int) -> tuple[str, list[str]]:
    """The folder's finished execution: made (and measured on its own host) when missing."""
    record = folder / RECORD
    if record.exists():
        kept = json.loads(record.read_text())
        if kept["targets"] == count:
            return kept["job_execution_id"], kept["lines"]
        raise SystemExit(f"{folder} holds a {kept['targets']}-target execution; use another")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"making {count} SQLite targets in {folder / 'targets'} ...", flush=True)
    fleet = sqlite_fleet(folder / "targets", count)
    with running_host(folder) as host:
        define_job(host, fleet)
        execution_id, lines = run_and_read(host, count, top, "when made:")
    record.write_text(
        json.dumps({"job_execution_id": execution_id, "targets": count, "lines": lines})
    )
    return execution_id, lines


def run_and_read(host: FleetHost, count: int, top: int, label: str) -> tuple[str, list[str]]:
    """Run the job on ``host``, then measure reading that execution there."""
    assert host.process is not None
    print(f"running a {count}-target execution ...", flush=True)
    execution_id, seconds, _ = run_fleet(host)
    pid = host.process.pid
    lines = [
        f"ran {count} targets in {seconds:.0f} s; host after the execution: "
        f"RSS {mib(status_kib(pid, 'VmRSS')):.0f} MiB, peak over the run "
        f"{mib(status_kib(pid, 'VmHWM')):.0f} MiB"
    ]
    return execution_id, lines + measure_reads(host, execution_id, top, label)


def rerun(folder: Path, count: int, top: int) -> list[str]:
    """The job run once more on a copy of the folder's job database and task hub."""
    with tempfile.TemporaryDirectory(prefix="sqlfleet-rerun-") as name:
        copy = Path(name)
        for part in ("app", "hub"):
            shutil.copytree(folder / part, copy / part, symlinks=True)
        with running_host(copy, folder / "targets") as host:
            return run_and_read(host, count, top, "after a run:")[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=DEFAULT_TARGETS)
    parser.add_argument("--folder", type=Path, help="kept between runs (default under /tmp)")
    parser.add_argument("--top", type=int, default=API_PAGE, help="API page size")
    parser.add_argument("--rounds", type=int, default=1, help="fresh-host reads")
    parser.add_argument(
        "--run", action="store_true", help="also run the job again and read right after it"
    )
    arguments = parser.parse_args(argv)
    folder = arguments.folder or Path(f"/tmp/sqlfleet-read-{arguments.targets}")
    execution_id, made = prepare(folder, arguments.targets, arguments.top)
    print(f"execution {execution_id} ({arguments.targets} targets) in {folder}")
    for line in made:  # measured by whichever commit made the folder
        print(f"(recorded when the folder was made) {line}")
    if arguments.run:
        for line in rerun(folder, arguments.targets, arguments.top):
            print(line, flush=True)
    for _ in range(arguments.rounds):
        with running_host(folder) as host:
            for line in measure_reads(host, execution_id, arguments.top, "fresh host:"):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
