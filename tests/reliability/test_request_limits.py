"""Resource attacks on SQL Fleet's local host: big bodies sent without a key (or above the limit
with one) must not be read into memory, and half-sent requests must not hold sockets open.

The host's memory is read from ``/proc/<pid>/status``: ``VmHWM`` is its peak resident size, so
a body that was buffered even for a moment shows in it.
"""

from __future__ import annotations

import resource
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.host import FleetHost

pytestmark = pytest.mark.reliability

MIB = 1024 * 1024
BODY_LIMIT = 8 * MIB
READ_TIMEOUT = 2.0
KEEPALIVE = 3.0
BIG_BODY = 95 * MIB
SENDERS = 10
HALF_OPEN = 1100
# What the host may grow by while ten 95 MB bodies come at it: buffers, not bodies.
RSS_GROWTH_LIMIT_MIB = 64


@pytest.fixture(scope="module")
def limited_host(
    tmp_path_factory: pytest.TempPathFactory, credential_key: str
) -> Iterator[FleetHost]:
    env = {
        "SQLFLEET_CREDENTIAL_KEY": credential_key,
        "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": str(BODY_LIMIT),
        "DEVHOST_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT),
        "DEVHOST_KEEPALIVE_TIMEOUT": str(KEEPALIVE),
    }
    host = FleetHost.start_fleet(tmp_path_factory.mktemp("limits"), env)
    try:
        host.ok("GET", "/api/jobs")  # the app and its job database are up and warm
        yield host
    finally:
        host.stop()


def memory_kib(host: FleetHost, field: str) -> int:
    assert host.process is not None
    for line in Path(f"/proc/{host.process.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc status")


def send_body(
    port: int, path: str, size: int, headers: dict[str, str], chunked: bool = False
) -> int | None:
    """PUT ``size`` bytes (made 1 MiB at a time, never held whole); the answer's status, or None
    when the host closed the connection before answering."""
    head = [f"PUT {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    chunk = b"{" * MIB
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for _ in range(size // MIB):
                sock.sendall(b"%x\r\n%s\r\n" % (MIB, chunk) if chunked else chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the host answered and closed before the body was all sent
        try:
            answer = sock.recv(4096)
        except OSError:
            return None
    return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None


def in_threads(count: int, target, *arguments) -> list[int | None]:  # noqa: ANN001
    results: list[int | None] = [None] * count

    def run(index: int) -> None:
        results[index] = target(*arguments)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return results


def test_keyless_bodies_are_refused_before_they_are_read(limited_host: FleetHost):
    before = memory_kib(limited_host, "VmHWM")
    statuses = in_threads(SENDERS, send_body, limited_host.port, "/api/jobs/big", BIG_BODY, {})
    grown_mib = (memory_kib(limited_host, "VmHWM") - before) / 1024
    assert 401 in statuses and set(statuses) <= {401, None}, statuses
    assert grown_mib < RSS_GROWTH_LIMIT_MIB, f"peak RSS grew by {grown_mib:.0f} MiB"
    assert limited_host.call("GET", "/api/jobs/big").status == 404  # nothing was defined


def test_keyed_bodies_above_the_limit_are_refused_or_cut_off(limited_host: FleetHost):
    key = {"x-functions-key": limited_host.keys.function_key or ""}
    before = memory_kib(limited_host, "VmHWM")
    declared = in_threads(SENDERS, send_body, limited_host.port, "/api/jobs/big", BIG_BODY, key)
    chunked = send_body(limited_host.port, "/api/jobs/big", BIG_BODY, key, chunked=True)
    grown_mib = (memory_kib(limited_host, "VmHWM") - before) / 1024
    assert 413 in declared and set(declared) <= {413, None}, declared
    assert chunked in (413, None)
    # At most one body's worth of the limit is ever held, per request.
    assert grown_mib < RSS_GROWTH_LIMIT_MIB + BODY_LIMIT / MIB, f"grew by {grown_mib:.0f} MiB"
    assert limited_host.call("GET", "/api/jobs/big").status == 404


def test_half_sent_requests_do_not_hold_connections(limited_host: FleetHost):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < HALF_OPEN + 200:
        pytest.skip(f"the open-files limit ({hard}) is below {HALF_OPEN + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, HALF_OPEN + 200), hard))
    selector = selectors.DefaultSelector()
    opened = time.monotonic()
    sockets = []
    try:
        for _ in range(HALF_OPEN):
            sock = socket.create_connection(("127.0.0.1", limited_host.port), timeout=30)
            sock.sendall(b"POST /api/jobs/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            sockets.append(sock)
        # The host still serves others while they hang.
        assert limited_host.alive and limited_host.call("GET", "/api/jobs").status == 200
        open_count = len(sockets)
        deadline = opened + READ_TIMEOUT + 30
        while open_count and time.monotonic() < deadline:
            for ready, _ in selector.select(timeout=1):
                sock = ready.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                assert data == b"", f"the host answered a half request: {data[:100]!r}"
                selector.unregister(sock)
                open_count -= 1
        elapsed = time.monotonic() - opened
        assert open_count == 0, f"{open_count} of {HALF_OPEN} half-sent requests still open"
        assert elapsed >= READ_TIMEOUT * 0.8  # closed by the deadline, not refused outright
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
    assert limited_host.alive and limited_host.call("GET", "/api/jobs").status == 200
