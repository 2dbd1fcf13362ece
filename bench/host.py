"""SQL Fleet on a local host for the benchmarks: ``python -m devhost`` on this repository with
its own job database and task hub, its memory and CPU read from ``/proc``, and py-spy on it."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from sqlfleet.cli.localkeys import read_function_key
from sqlfleet.settings import host_app_settings
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
# The extension's default when host.json names no maxConcurrentActivityFunctions: ten per core.
DEFAULT_ACTIVITY_CONCURRENCY = 10 * (os.cpu_count() or 1)
DEFAULT_MAX_CONCURRENT_TARGETS = 100
# The CLI as the console script runs it, but from this repository (not the installed copy).
CLI = "import sys; from sqlfleet.cli import main; sys.exit(main())"


class FleetHost:
    """``python -m devhost`` on this repository with its own job database and task hub."""

    def __init__(self, workdir: Path, sqlite_roots: tuple[Path, ...] = ()) -> None:
        self.workdir = workdir
        self.sqlite_roots = sqlite_roots
        self.app_data = workdir / "app"
        self.hub_dir = workdir / "hub"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.key: str | None = None  # the function key the host makes in its data folder

    def start(self, timeout: float = 90) -> None:
        env = {
            **host_app_settings(),
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SQLFLEET_DATA_DIR": str(self.app_data),
            "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
            # The SQLite targets' folder, and nothing more.
            "SQLFLEET_SQLITE_ROOTS": os.pathsep.join(str(root) for root in self.sqlite_roots),
        }
        env.pop("SQLFLEET_JOB_DATABASE_URL", None)
        command = [sys.executable, "-m", "devhost", str(ROOT), "--port", str(self.port)]
        with open(self.workdir / "host.log", "ab") as log:
            self.process = subprocess.Popen(
                [*command, "--data-dir", str(self.hub_dir)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise SystemExit(f"devhost exited; see {self.workdir / 'host.log'}")
            try:
                return self.call("GET", "/admin/host/ping")[0] == 200
            except OSError:
                return False

        wait_for(ready, timeout, "the host to answer")
        self.key = read_function_key(self.hub_dir)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.key:
            headers["x-functions-key"] = self.key
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        if not 200 <= status < 300:
            raise SystemExit(f"{method} {path} answered {status}: {answer}")
        return answer

    def processes(self) -> list[int]:
        """The host and its child processes alive now (the script processes)."""
        assert self.process is not None
        pids = [self.process.pid]
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            pids.extend(int(pid) for pid in children.read_text().split())
        return pids

    def peak_rss_mib(self) -> float:
        """The sum of the peak RSS (``VmHWM``) of the host and its script processes."""
        host, scripts = self.memory_mib("VmHWM")
        return host + scripts

    def memory_mib(self, field: str = "VmRSS") -> tuple[float, float]:
        """A ``/proc/PID/status`` figure (``VmRSS``, or the peak ``VmHWM``) in MiB: the host
        alone, and its script processes summed."""
        assert self.process is not None
        pid = self.process.pid
        scripts = [p for p in self.processes() if p != pid]
        return status_kib(pid, field) / 1024, sum(status_kib(p, field) for p in scripts) / 1024

    def reset_peak_rss(self) -> None:
        """Start the peak RSS (``VmHWM``) of the host and its script processes over from now
        (``clear_refs`` 5), so that a later reading covers only what happened since."""
        for pid in self.processes():
            reset_peak_rss(pid)

    def read_with_cli(self, execution_id: str, output: Path) -> tuple[float, float, int]:
        """``sqlfleet get ID --json`` (every target, a page at a time, as one document) into
        ``output``, which is removed after: (seconds, the CLI process's peak RSS in MiB, the
        targets it printed)."""
        env = {**os.environ, "SQLFLEET_URL": self.base, "SQLFLEET_FUNCTION_KEY": self.key or ""}
        started = time.perf_counter()
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-c", CLI, "get", execution_id, "--json"],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.PIPE,
            )
            assert process.stderr is not None
            errors = process.stderr.read()
            _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"sqlfleet get failed: {errors.decode()[-2000:]}")
        document = json.loads(output.read_bytes())
        output.unlink()
        targets = sum(len(step.get("targets", [])) for step in document["steps"])
        return seconds, usage.ru_maxrss / 1024, targets

    def cpu_seconds(self, *, host_alone: bool = False) -> tuple[float, float]:
        """(user, system) CPU seconds the host and its script processes (or the host alone)
        have used so far."""
        tick = os.sysconf("SC_CLK_TCK")
        user = system = 0
        assert self.process is not None
        for pid in [self.process.pid] if host_alone else self.processes():
            with contextlib.suppress(FileNotFoundError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                user, system = user + int(fields[11]), system + int(fields[12])
        return user / tick, system / tick

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


def status_kib(pid: int | str, field: str) -> int:
    """A ``/proc/PID/status`` figure in KiB (``VmRSS``, ``VmHWM``); 0 for a gone process."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pid: int | str) -> None:
    """Start ``VmHWM`` of ``pid`` (or ``"self"``) over from its current RSS."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def files_size(folder: Path, prefix: str) -> int:
    """Bytes of ``prefix`` and its ``-wal``/``-shm`` companions in ``folder``."""
    return sum(p.stat().st_size for p in folder.glob(prefix + "*") if p.is_file())


def host_parallelism() -> int:
    """What bounds concurrent target scripts in the host: host.json's activity concurrency,
    capped by the app's own ``SQLFLEET_MAX_CONCURRENT_TARGETS``."""
    durable = (
        json.loads((ROOT / "host.json").read_text()).get("extensions", {}).get("durableTask", {})
    )
    activities = int(durable.get("maxConcurrentActivityFunctions") or DEFAULT_ACTIVITY_CONCURRENCY)
    cap = int(os.environ.get("SQLFLEET_MAX_CONCURRENT_TARGETS") or DEFAULT_MAX_CONCURRENT_TARGETS)
    return min(activities, cap)


def hub_name() -> str:
    durable = (
        json.loads((ROOT / "host.json").read_text()).get("extensions", {}).get("durableTask", {})
    )
    return str(durable.get("hubName") or "TestHubName")


PY_SPY = (
    f"{Path(sys.executable).parent / 'py-spy'} record --pid {{pid}} --rate 200 --format raw "
    "--threads --nonblocking --output {output}.txt"
)


@contextlib.contextmanager
def profiled(pid: int, output: Path | None, command: str) -> Iterator[None]:
    """Run the profiler ``command`` (``{pid}`` and ``{output}`` filled in) on the host while
    the block runs, then stop it with SIGINT; nothing when ``output`` is None."""
    if output is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    profiler = subprocess.Popen(
        shlex.split(command.format(pid=pid, output=output)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(120)


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
