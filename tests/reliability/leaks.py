"""Where a secret could leak, and the scan that looks there once the suites have run.

The suites register every secret they hand to SQL Fleet (target passwords, wrong passwords, the
job database's password, the credential key) and every place SQL Fleet writes: task hub files,
job database files, host logs, the HTTP bodies the suites received, and dumps of job databases
that live on a server. ``LeakWatch.scan()`` reads all of it as bytes and reports each secret it
finds. Markers that must be found (a login name, an execution id) prove that the scan really
read each kind of place, so an empty or misdirected scan cannot pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.host import FleetHost

TASK_HUB = "task hub"
JOB_DATABASE = "job database"
HOST_LOG = "host log"
HTTP_RESPONSE = "HTTP response"
SERVER_FILES = "database server files"

Source = tuple[str, str, bytes]  # (kind, where, content)


@dataclass
class ScanReport:
    leaks: list[str] = field(default_factory=list)
    missing_markers: list[str] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # kind -> how many were read
    bytes_read: int = 0


@dataclass
class LeakWatch:
    secrets: dict[str, str] = field(default_factory=dict)  # secret -> what it is
    hosts: list[FleetHost] = field(default_factory=list)
    paths: list[tuple[str, Path]] = field(default_factory=list)
    dumps: list[tuple[str, str, Callable[[], bytes]]] = field(default_factory=list)
    markers: list[tuple[str, str]] = field(default_factory=list)  # (kind, text that must show)

    def secret(self, value: str, what: str) -> str:
        """Remember ``value`` as a secret; returns it."""
        assert len(value) >= 12, f"{what}: too short to scan for without false alarms"
        self.secrets[value] = what
        return value

    def host(self, host: FleetHost) -> None:
        self.hosts.append(host)

    def path(self, kind: str, path: Path) -> None:
        """Scan ``path`` (a file, or every file under a folder) as ``kind``."""
        self.paths.append((kind, path))

    def dump(self, kind: str, where: str, read: Callable[[], bytes]) -> None:
        """Scan what ``read()`` returns at scan time (e.g. every row of a job database)."""
        self.dumps.append((kind, where, read))

    def expect(self, kind: str, marker: str) -> None:
        """``marker`` must be found in some source of ``kind``: proof that the scan read it."""
        self.markers.append((kind, marker))

    @property
    def empty(self) -> bool:
        return not (self.hosts or self.paths or self.dumps)

    def sources(self) -> Iterable[Source]:
        for host in self.hosts:
            yield from _files(TASK_HUB, host.data_dir, skip={host.log_path})
            yield from _files(HOST_LOG, host.log_path)
            yield from _files(JOB_DATABASE, host.root / "app")
            for number, body in enumerate(host.responses):
                yield HTTP_RESPONSE, f"response {number} of host {host.base}", body
        for kind, path in self.paths:
            yield from _files(kind, path)
        for kind, where, read in self.dumps:
            yield kind, where, read()

    def scan(self) -> ScanReport:
        report = ScanReport()
        needles = {secret.encode(): what for secret, what in self.secrets.items()}
        pending = {(kind, marker.encode()) for kind, marker in self.markers}
        for kind, where, content in self.sources():
            report.sources[kind] = report.sources.get(kind, 0) + 1
            report.bytes_read += len(content)
            for needle, what in needles.items():
                at = content.find(needle)
                if at >= 0:
                    context = content[max(0, at - 80) : at].decode(errors="replace")
                    report.leaks.append(f"{what} found in {kind} {where} after …{context!r}")
            pending = {(k, m) for k, m in pending if k != kind or m not in content}
        report.missing_markers = [f"{m.decode()!r} in no {k}" for k, m in sorted(pending)]
        return report


def _files(kind: str, path: Path, skip: set[Path] = frozenset()) -> Iterable[Source]:  # type: ignore[assignment]
    if path.is_file():
        candidates = [path]
    elif path.is_dir():
        candidates = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        candidates = []
    for candidate in candidates:
        if candidate in skip:
            continue
        try:
            yield kind, str(candidate), candidate.read_bytes()
        except OSError:  # a file the server removed while we listed (WAL segments)
            continue
