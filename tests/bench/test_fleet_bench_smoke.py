"""``bench/fleet.py --quick`` runs end to end: 20 SQLite targets through the API of a real host
and through the thread-pool baseline. No timing is asserted (the machine is shared); only that
the run completes, every figure is there and the goals are judged."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_completes_and_prints_its_figures(tmp_path: Path) -> None:
    figures = tmp_path / "fleet.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet.py"), "--quick", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    [result] = json.loads(figures.read_text())
    assert (result["engine"], result["n"]) == ("sqlite", 20)
    assert result["parallelism"] >= 1
    for name in ("baseline_targets_per_second", "fleet_targets_per_second", "ratio"):
        assert result[name] > 0, name
    assert 0 < result["peak_rss_mib"] < 10_000
    assert result["hub_bytes"] > 0 and result["job_db_bytes"] > 0
    assert sum(result["host_cpu_seconds"]) > 0
    assert result["synced_files_per_second"] > 0

    lines = run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("engine"))
    assert "base t/s" in lines[header] and "fleet t/s" in lines[header]
    assert lines[header + 1].split()[:2] == ["sqlite", "20"]
    assert any("peak RSS < 400 MB" in line for line in lines)


def test_the_disk_pace_counts_files_and_leaves_none_behind(tmp_path: Path) -> None:
    # Loaded from its file: under pytest, the name ``bench`` is this test package.
    spec = importlib.util.spec_from_file_location("bench_targets", ROOT / "bench" / "targets.py")
    assert spec is not None and spec.loader is not None
    targets = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = targets  # its dataclasses look themselves up there
    spec.loader.exec_module(targets)
    (tmp_path / "db00000.db").write_bytes(b"")

    pace = targets.disk_pace(tmp_path, count=40, threads=4)

    assert pace > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db00000.db"]
