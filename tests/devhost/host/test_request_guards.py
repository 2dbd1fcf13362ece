"""What every request passes before it is routed (Host, Origin), the body limit checked after the
key and before the body is read, and the deadlines of idle and half-sent connections."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from devhost.app import read_host_json
from devhost.http.guards import host_name
from tests.devhost.host.hostproc import NO_KEY, SAMPLE_APP, WEBHOOK, HostProcess, poll

READ_TIMEOUT = 1.0
KEEPALIVE = 3.0  # well apart from READ_TIMEOUT, and short: three tests wait it out
BODY_LIMIT = 1024
ALLOWED_ORIGIN = "http://app.example:3000"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def started(host: HostProcess, instance_id: str) -> bool:
    return host.status(instance_id).status != 404


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """A host with small limits, one more host name and one allowed web origin."""
    env = {
        "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": str(BODY_LIMIT),
        "DEVHOST_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT),
        "DEVHOST_KEEPALIVE_TIMEOUT": str(KEEPALIVE),
        "DEVHOST_ALLOWED_HOSTS": "fleet.internal, other.internal",
        "DEVHOST_CORS_ORIGINS": ALLOWED_ORIGIN,
    }
    host = HostProcess.start(SAMPLE_APP, tmp_path_factory.mktemp("limited"), env)
    try:
        yield host
    finally:
        host.stop()


def connect(host: HostProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", host.port), timeout=10)


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    began = time.monotonic()
    sock.settimeout(limit)
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received, time.monotonic() - began
        received += chunk


def read_answer(sock: socket.socket, limit: float = 10) -> bytes:
    """One HTTP answer: its head and its Content-Length body (the connection may stay open)."""
    sock.settimeout(limit)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of an answer"
        body += chunk
    return head + b"\r\n\r\n" + body


# --- Host ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST."])
def test_the_names_of_this_host_pass(devhost: HostProcess, name: str):
    reply = devhost.call("GET", "/api/hello", headers={"Host": f"{name}:{devhost.port}"})
    assert reply.status == 200


def test_a_foreign_host_is_refused_before_anything_runs_even_with_a_key(devhost: HostProcess):
    foreign = {"Host": f"attacker.example:{devhost.port}"}
    instance = unique("rebound")
    reply = devhost.call("POST", f"/api/start/waiter?id={instance}", headers=foreign)
    assert reply.status == 400
    assert "DEVHOST_ALLOWED_HOSTS" in reply.text and "attacker.example" in reply.text
    keyed = devhost.call("POST", f"{WEBHOOK}/orchestrators/waiter/{instance}", headers=foreign)
    assert keyed.status == 400
    assert not started(devhost, instance)


def test_names_in_the_allowed_hosts_setting_pass(limited: HostProcess):
    for name in ("fleet.internal", "OTHER.internal"):
        reply = limited.call("GET", "/api/hello", headers={"Host": f"{name}:{limited.port}"})
        assert reply.status == 200, name
    reply = limited.call("GET", "/api/hello", headers={"Host": "third.internal"})
    assert reply.status == 400


def test_host_names_are_read_without_port_brackets_case_or_final_dot():
    assert host_name("LocalHost:7071") == "localhost"
    assert host_name("[::1]:7071") == "::1"
    assert host_name("example.org.") == "example.org"
    assert host_name("127.0.0.1") == "127.0.0.1"


# --- Origin ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1"]
)
def test_a_cross_origin_request_is_refused_and_starts_nothing(devhost: HostProcess, origin: str):
    # What a web page's form can send without a preflight: a POST with a text/plain body.
    instance = unique("csrf")
    reply = devhost.call(
        "POST",
        f"/api/start/waiter?id={instance}",
        raw=b'{"a": 1}',
        headers={"Origin": origin, "Content-Type": "text/plain"},
    )
    assert reply.status == 403
    assert "DEVHOST_CORS_ORIGINS" in reply.text
    assert not started(devhost, instance)


def test_the_hosts_own_origin_passes(devhost: HostProcess):
    own = {"Origin": devhost.base}
    assert devhost.call("GET", "/api/hello", headers=own).status == 200
    by_name = {"Origin": f"http://localhost:{devhost.port}", "Host": f"localhost:{devhost.port}"}
    assert devhost.call("GET", "/api/hello", headers=by_name).status == 200
    assert (
        "Access-Control-Allow-Origin" not in devhost.call("GET", "/api/hello", headers=own).headers
    )


def test_a_foreign_preflight_is_refused(devhost: HostProcess):
    reply = devhost.call(
        "OPTIONS",
        f"{WEBHOOK}/instances/",
        key=NO_KEY,
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert reply.status == 403
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_an_allowed_origin_gets_cors_answers(limited: HostProcess):
    preflight = limited.call(
        "OPTIONS",
        "/api/keyed/function",
        key=NO_KEY,
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-functions-key, content-type",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "x-functions-key, content-type"
    reply = limited.call("GET", "/api/keyed/function", headers={"Origin": ALLOWED_ORIGIN})
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    # An allowed origin still needs the key.
    refused = limited.call(
        "GET", "/api/keyed/function", key=NO_KEY, headers={"Origin": ALLOWED_ORIGIN}
    )
    assert refused.status == 401
    other = limited.call("GET", "/api/hello", headers={"Origin": "http://app.example:3001"})
    assert other.status == 403


def test_core_tools_cors_setting_in_local_settings_is_read(tmp_path: Path):
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    host = {"CORS": "http://a.example, http://b.example:8080,"}
    settings = read_host_json(tmp_path, {}, host)
    assert settings.cors_origins == ("http://a.example", "http://b.example:8080")


# --- body limit ------------------------------------------------------------------------------


def test_a_body_up_to_the_limit_is_read(limited: HostProcess):
    body = b"x" * BODY_LIMIT
    reply = limited.call("POST", "/api/echo", raw=body, headers={"Content-Type": "text/plain"})
    assert reply.status == 201 and reply.body == body


def test_a_longer_content_length_is_refused_413_without_reading_the_body(limited: HostProcess):
    with connect(limited) as sock:
        sock.sendall(
            b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Content-Length: {BODY_LIMIT + 1}\r\n\r\n".encode()
        )  # and no body at all: the answer comes from the header alone
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT" in answer


def test_a_chunked_body_is_cut_off_at_the_limit(limited: HostProcess):
    chunk = b"y" * 512
    with connect(limited) as sock:
        sock.sendall(
            b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(3):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = read_answer(sock)  # the last chunk never sent: the limit was passed before
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_the_key_is_checked_before_the_size(limited: HostProcess):
    with connect(limited) as sock:
        sock.sendall(
            b"PUT /api/keyed/function HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 99000000\r\n\r\n"
        )
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 401 ")


# --- deadlines -------------------------------------------------------------------------------


def test_a_half_sent_request_is_closed_within_the_read_timeout(limited: HostProcess):
    with connect(limited) as sock:
        sock.sendall(b"GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer, elapsed = read_until_closed(sock, READ_TIMEOUT + 5)
    assert answer == b""
    assert READ_TIMEOUT * 0.8 <= elapsed < READ_TIMEOUT + 3


def test_a_connection_that_sends_nothing_is_closed_after_the_keepalive_timeout(
    limited: HostProcess,
):
    with connect(limited) as sock:
        answer, elapsed = read_until_closed(sock, KEEPALIVE + 5)
    assert answer == b""
    assert KEEPALIVE * 0.8 <= elapsed < KEEPALIVE + 3


def test_a_stalled_body_is_answered_408_and_closed(limited: HostProcess):
    with connect(limited) as sock:
        sock.sendall(
            b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789"
        )
        began = time.monotonic()
        answer = read_answer(sock, READ_TIMEOUT + 5)
        elapsed = time.monotonic() - began
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"DEVHOST_REQUEST_READ_TIMEOUT" in answer
        assert READ_TIMEOUT * 0.8 <= elapsed < READ_TIMEOUT + 3
        rest, _ = read_until_closed(sock, KEEPALIVE + 5)  # and the connection is closed
    assert rest == b""


def test_a_kept_alive_connection_serves_requests_until_it_idles(limited: HostProcess):
    with connect(limited) as sock:
        for _ in range(3):
            sock.sendall(b"GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
        rest, elapsed = read_until_closed(sock, KEEPALIVE + 5)
    assert rest == b"" and elapsed < KEEPALIVE + 3


# --- stop ------------------------------------------------------------------------------------


def test_a_stop_does_not_wait_for_a_read_whose_client_has_hung_up(tmp_path: Path):
    # As a browser tab closed in the middle of a long-poll: nobody reads the answer, so the
    # host cancels it at once instead of waiting for it to end.
    host = HostProcess.start(SAMPLE_APP, tmp_path / "hub")
    started = tmp_path / "started"
    try:
        with connect(host) as sock:
            path = f"/api/slow?seconds=120&started={quote(str(started))}"
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            poll(started.exists, 30, "the slow function to start")
        # Answered after the hang-up: the host's loop has seen it.
        assert host.call("GET", "/api/hello").status == 200
        began = time.monotonic()
        host.stop()
        took = time.monotonic() - began
    finally:
        host.kill()
    assert host.process is not None and host.process.returncode == 0, host.log()
    assert took < 20, f"the stop took {took:.1f} s"
    assert "Executed 'Functions.slow' (Failed" in host.log()
