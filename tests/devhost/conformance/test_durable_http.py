"""Durable HTTP (apps/durable_http): ``context.call_http`` against an HTTP API this test serves.

What the extension does (``TaskHttpActivityShim``, ``DurableHttpRequest``, ``DurableHttpResponse``,
``DurableOrchestrationContext.CallHttpAsync``):

- the request runs as the built-in activity ``BuiltIn::HttpActivity``; the given headers are
  sent; a body without a ``Content-Type`` header goes as ``text/plain``; the SDK JSON-encodes
  ``content`` (a str too) unless ``is_raw_str=True``;
- the orchestrator gets ``{"statusCode", "headers", "content"}``: headers are the response's own
  headers (``HttpResponseMessage.Headers``: no ``Content-Type``/``Content-Length``, which are
  content headers), one string per single-valued header; a 4xx/5xx is a response, not a failure;
- 202 polling is done only when the request has ``asynchronousPatternEnabled``; the Python SDK
  (1.7) never sends that field, the extension's JSON reader then leaves it false, so a Python
  orchestrator gets the 202 itself and nothing polls its ``Location`` (the Python SDK's open
  issue #380 "Support long polling in CallHttp API"; the JS SDK had the same gap, issue #284,
  fixed by sending the field). host.json sets ``defaultAsyncRequestSleepTimeMilliseconds`` small
  so that a host which did poll would do it within the test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess
from tests.support.servers import free_port

APP = "durable_http"
HTTP_ACTIVITY = "BuiltIn::HttpActivity"


class Api:
    """A small HTTP API on a free port that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _record(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with api.lock:
                    api.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body.decode(),
                        }
                    )
                return body

            def _answer(
                self, status: int, body: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._record()
                if self.path == "/inventory/42":
                    self._answer(200, {"item": 42, "inStock": 7}, {"X-Inventory-Region": "eu"})
                elif self.path == "/exports/1/status":
                    self._answer(200, {"done": True})
                else:
                    self._answer(404, b"no such thing")

            def do_POST(self) -> None:  # noqa: N802
                body = self._record()
                if self.path == "/exports":
                    location = f"{api.base}/exports/1/status"
                    self._answer(
                        202, {"accepted": True}, {"Location": location, "Retry-After": "1"}
                    )
                else:
                    echo = {"body": body.decode(), "type": self.headers.get("Content-Type")}
                    self._answer(201, echo)

            do_PUT = do_POST  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def seen(self, path_prefix: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(path_prefix)]


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    served = Api()
    served.thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()


def http_activities(started: dict) -> list[dict]:
    completed = flow.events_of(flow.history(started), "TaskCompleted")
    return [e for e in completed if e["FunctionName"] == HTTP_ACTIVITY]


def test_get_with_headers(app_host: HostProcess, api: Api):
    started = flow.start(app_host, "check_inventory", {"baseUrl": api.base, "item": 42})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed", final["output"]
    output = final["output"]
    assert (output["found"], output["inStock"]) == (True, 7)
    response = output["response"]
    assert response["statusCode"] == 200
    assert json.loads(response["content"]) == {"item": 42, "inStock": 7}
    assert response["headers"]["X-Inventory-Region"] == "eu"
    names = {name.lower() for name in response["headers"]}
    assert "content-type" not in names and "content-length" not in names
    [request] = api.seen("/inventory/")
    assert (request["method"], request["path"]) == ("GET", "/inventory/42")
    assert request["headers"]["x-correlation-id"] == started["id"]
    assert request["body"] == ""
    assert len(http_activities(started)) == 1


def test_error_status_is_a_response_not_a_failure(app_host: HostProcess, api: Api):
    started = flow.start(app_host, "check_inventory", {"baseUrl": api.base, "item": 999})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed", final["output"]
    assert final["output"] == {"found": False, "status": 404, "body": "no such thing"}


def test_post_bodies_and_content_types(app_host: HostProcess, api: Api):
    started = flow.start(app_host, "place_order", {"baseUrl": api.base, "sku": "A-1"})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed", final["output"]
    assert final["output"] == {
        "order": {
            "status": 201,
            "body": {"body": '{"sku": "A-1", "quantity": 2}', "type": "application/json"},
        },
        "note": {"status": 201, "body": {"body": '"rush delivery"', "type": "text/plain"}},
        "rawNote": {"status": 201, "body": {"body": "rush delivery", "type": "text/plain"}},
    }
    assert [(r["method"], r["path"]) for r in api.seen("/orders") + api.seen("/notes")] == [
        ("POST", "/orders"),
        ("POST", "/notes"),
        ("PUT", "/notes"),
    ]
    assert len(http_activities(started)) == 3


def test_202_reaches_the_python_orchestrator_unpolled(app_host: HostProcess, api: Api):
    started = flow.start(app_host, "start_export", {"baseUrl": api.base})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed", final["output"]
    assert final["output"] == {
        "status": 202,
        "location": f"{api.base}/exports/1/status",
        "body": json.dumps({"accepted": True}),
    }
    assert [r["method"] for r in api.seen("/exports")] == ["POST"]
    events = flow.history(started)
    assert flow.events_of(events, "TimerCreated") == []
    assert len(http_activities(started)) == 1
