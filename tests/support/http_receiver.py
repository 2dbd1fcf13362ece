"""A real HTTP endpoint for tests of outgoing requests (durable HTTP): records, then answers.

``HttpReceiver(answer)`` serves on a free 127.0.0.1 port in a background thread. Every request is
recorded (method, path with query, headers, body) before ``answer(request)`` decides the reply
``(status, headers, body)``. Use it as a context manager.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from types import TracebackType

from tests.support.servers import wait_until


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: Message  # case-insensitive lookups: request.headers["content-type"]
    body: bytes


Answer = tuple[int, list[tuple[str, str]], bytes]
Answerer = Callable[[ReceivedRequest], Answer]


class HttpReceiver:
    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = ReceivedRequest(
                    self.command, self.path, self.headers, self.rfile.read(length)
                )
                with receiver._lock:
                    receiver._requests.append(request)
                status, headers, body = receiver.answer(request)
                # A caller that gave up waiting (a test of its timeout) has hung up: not news.
                with contextlib.suppress(ConnectionError):
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 30) -> list[ReceivedRequest]:
        """Poll until at least ``count`` requests came in; returns them."""
        wait_until(lambda: len(self.requests) >= count, timeout, message=f"{count} requests")
        return self.requests

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
