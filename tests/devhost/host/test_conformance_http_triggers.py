"""httpTrigger and timerTrigger behaviour of a real ``python -m devhost`` on the sample app."""

from __future__ import annotations

import re
import uuid

from tests.devhost.host.conftest import FUNCTION_KEY, MASTER_KEY
from tests.devhost.host.hostproc import NO_KEY, WEBHOOK, HostProcess, poll

INVOCATION_LINE = r"Executed 'Functions\.{name}' \({outcome}, Id=[0-9a-f-]{{36}}, Duration=\d+ms\)"


def test_routes_templates_and_methods(devhost: HostProcess):
    hello = devhost.call("GET", "/api/hello?name=Bo")
    assert (hello.status, hello.text) == (200, "Howdy, Bo!")  # local.settings.json reached it
    assert hello.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert devhost.call("GET", "/API/Hello").text == "Howdy, world!"  # case-insensitive
    assert devhost.call("POST", "/api/hello").status == 404  # method not in methods=[GET]
    item = devhost.call("GET", "/api/items/42")
    # Plain functions run in the worker's thread pool (no name prefix, as the worker's).
    assert item.json()["id"] == 42 and item.json()["thread"].startswith("ThreadPoolExecutor")
    assert item.headers["Content-Type"] == "application/json"
    assert devhost.call("GET", "/api/items/abc").text == "name=abc"
    assert devhost.call("GET", "/api/items/special").text == "special"
    assert devhost.call("GET", "/api/files/a/b/c.txt").text == "path=a/b/c.txt"
    assert devhost.call("GET", "/api/optional").text == "x=none"
    assert devhost.call("GET", "/api/optional/7").text == "x=7"
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):  # no methods given: every method
        assert devhost.call(method, "/api/echo").status == 201
    missing = devhost.call("GET", "/api/does-not-exist")
    assert (missing.status, missing.body) == (404, b"")
    assert devhost.call("GET", "/hello").status == 404  # the route prefix is required


def test_request_and_response_conversion(devhost: HostProcess):
    body = bytes(range(256))
    reply = devhost.call(
        "PUT",
        "/api/echo?b=2&a=1&a=3",
        raw=body,
        headers={"x-test": "yes", "Content-Type": "application/x-thing"},
    )
    assert reply.status == 201
    assert reply.body == body
    assert reply.headers["X-Method"] == "PUT"
    assert reply.headers["X-Url"] == f"{devhost.base}/api/echo?b=2&a=1&a=3"
    assert reply.headers["X-Params"] == '{"a": "1", "b": "2"}'
    assert reply.headers["X-Test-Header"] == "yes"
    assert reply.headers["Content-Type"] == "application/x-thing"
    assert reply.headers["Set-Cookie"] == "a=1"
    html = devhost.call("GET", "/api/html")
    assert html.headers["Content-Type"] == "text/html; charset=latin-1"
    assert html.body == "<b>caf\u00e9</b>".encode("latin-1")
    explicit = devhost.call("GET", "/api/explicit-type")
    assert explicit.headers["Content-Type"] == "application/vnd.sample+json"
    # The HTTP output binding cannot encode None: the worker fails the invocation, 500.
    nothing = devhost.call("GET", "/api/nothing")
    assert (nothing.status, nothing.body) == (500, b"")
    poll(
        lambda: "TypeError: unable to encode outgoing TypedData" in devhost.log(),
        10,
        "the worker's encoding error in the log",
    )


def test_context_parameter_gets_the_invocation(devhost: HostProcess):
    info = devhost.call("GET", "/api/context-info").json()
    assert info["function_name"] == "context_info"
    assert re.fullmatch(r"[0-9a-f-]{36}", info["invocation_id"])
    line = f"Executed 'Functions.context_info' (Succeeded, Id={info['invocation_id']}, Duration="
    poll(lambda: line in devhost.log(), 10, "the invocation line with the same id")


def test_unhandled_exception_is_a_500_and_a_failed_log_line(devhost: HostProcess):
    reply = devhost.call("GET", "/api/boom")
    assert (reply.status, reply.body) == (500, b"")
    failed = INVOCATION_LINE.format(name="boom", outcome="Failed")
    poll(lambda: re.search(failed, devhost.log()), 10, "the Failed invocation line")
    assert "ValueError: kaboom in an http function" in devhost.log()


def test_one_log_line_per_invocation_and_no_bodies(devhost: HostProcess):
    secret = f"body-{uuid.uuid4().hex}"
    pattern = INVOCATION_LINE.format(name="echo", outcome="Succeeded")
    before = len(re.findall(pattern, devhost.log()))
    assert devhost.call("POST", "/api/echo", raw=secret.encode()).body == secret.encode()
    poll(lambda: len(re.findall(pattern, devhost.log())) == before + 1, 10, "the echo line")
    hello = INVOCATION_LINE.format(name="hello", outcome="Succeeded")
    assert re.search(hello, devhost.log())
    assert secret not in devhost.log()


def test_auth_levels_and_keys(devhost: HostProcess):
    def status(path: str, **kwargs: object) -> int:
        return devhost.call("GET", path, key=NO_KEY, **kwargs).status

    system_key = devhost.keys.system_key
    assert status("/api/keyed/function") == 401
    assert status("/api/keyed/function?code=wrong") == 401
    assert devhost.call("GET", f"/api/keyed/function?code={FUNCTION_KEY}").text == (
        "function level ok"
    )
    assert status(f"/api/keyed/function?CODE={MASTER_KEY}") == 200
    assert status(f"/api/keyed/function?code={system_key}") == 401
    assert status("/api/keyed/function", headers={"x-functions-key": FUNCTION_KEY}) == 200
    assert status("/api/keyed/admin", headers={"x-functions-key": FUNCTION_KEY}) == 401
    assert devhost.call("GET", f"/api/keyed/admin?code={MASTER_KEY}").text == "admin level ok"
    assert status("/api/hello?code=anything") == 200  # anonymous
    # The Durable HTTP API needs the system key (or the master key), from anywhere.
    assert status(f"{WEBHOOK}/instances/") == 401
    assert status(f"{WEBHOOK}/instances/?code=wrong") == 401
    assert status(f"{WEBHOOK}/instances/?code={FUNCTION_KEY}") == 401
    assert status(f"{WEBHOOK}/instances/?code={system_key}") == 200
    assert status(f"{WEBHOOK}/instances/?code={MASTER_KEY}") == 200
    assert status("/admin/host/status") == 401
    assert status(f"/admin/host/status?code={system_key}") == 401
    assert devhost.call("GET", f"/admin/host/status?code={MASTER_KEY}").json()["state"] == "Running"


def test_timer_runs_on_startup_and_on_schedule_with_a_durable_client(devhost: HostProcess):
    def ticks() -> int:
        reply = devhost.call("GET", f"{WEBHOOK}/entities/counter/ticks")
        return reply.json() if reply.status == 200 else 0

    poll(lambda: ticks() >= 2, 30, "the tick timer to signal the counter twice")
    line = INVOCATION_LINE.format(name="tick", outcome="Succeeded")
    assert len(re.findall(line, devhost.log())) >= 2
