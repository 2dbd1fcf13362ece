"""A real ``python -m devhost`` subprocess for the conformance suites, and a small HTTP client.

``HostProcess.start(app, data_dir)`` launches the host on a free port (stderr goes to a log file
in the data folder) and polls ``/admin/host/ping`` until it answers; then it reads the host's
keys (the settings it was given, else the key file the host made in its data folder).
``call()`` makes one real HTTP request with the key its route needs (the system key for the
Durable HTTP API, the master key for ``/admin``, else the function key) unless the request names
a key itself or ``key=NO_KEY``, and returns status, headers and body; ``wait_for_status`` polls
the Durable status endpoint with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devhost.hostkeys import (
    FUNCTION_KEY_SETTING,
    KEYLESS_SETTING,
    MASTER_KEY_SETTING,
    SYSTEM_KEY_SETTING,
    key_file,
    read_key_file,
)
from devhost.http.auth import HostKeys
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_APP = ROOT / "tests" / "devhost" / "sample_app"
WEBHOOK = "/runtime/webhooks/durabletask"
FINISHED = ("Completed", "Failed", "Terminated", "Canceled")
NO_KEY = ""  # call(..., key=NO_KEY): send no key at all


def host_keys(data_dir: Path, env: dict[str, str], *, keyless: bool = False) -> HostKeys:
    """The keys a host uses: its settings first, then the key file in its data folder."""
    if keyless:
        return HostKeys()
    settings = (FUNCTION_KEY_SETTING, MASTER_KEY_SETTING, SYSTEM_KEY_SETTING)
    stored = HostKeys()
    if not all(env.get(setting) for setting in settings):
        stored = read_key_file(key_file(data_dir))
    return HostKeys(
        function_key=env.get(FUNCTION_KEY_SETTING) or stored.function_key,
        master_key=env.get(MASTER_KEY_SETTING) or stored.master_key,
        system_key=env.get(SYSTEM_KEY_SETTING) or stored.system_key,
    )


def key_for(keys: HostKeys, path: str) -> str | None:
    """The key a route family needs: system for the Durable HTTP API, master for /admin,
    else the function key."""
    if path.startswith(WEBHOOK):
        return keys.system_key
    if path.startswith("/admin"):
        return keys.master_key
    return keys.function_key


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Reply:
    """One HTTP request; ``body`` is sent as JSON, ``raw`` as is. Never raises on 4xx/5xx."""
    data = raw
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll until ``predicate`` returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class HostProcess:
    app: Path
    data_dir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    arguments: tuple[str, ...] = ()  # more command-line options (e.g. --no-keys)
    keys: HostKeys = field(default_factory=HostKeys)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "host.log"

    @classmethod
    def start(
        cls,
        app: Path,
        data_dir: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
        arguments: tuple[str, ...] = (),
    ) -> HostProcess:
        host = cls(app, data_dir, port or free_port(), dict(env or {}), arguments=arguments)
        host.launch()
        return host

    @property
    def keyless(self) -> bool:
        return "--no-keys" in self.arguments or self.env.get(KEYLESS_SETTING) == "1"

    def read_keys(self) -> HostKeys:
        return host_keys(self.data_dir, self.env, keyless=self.keyless)

    def key_for(self, path: str) -> str | None:
        return key_for(self.keys, path)

    def launch(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until it exits
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost",
                str(self.app),
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *self.arguments,
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"devhost exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                return call("GET", f"{self.base}/admin/host/ping", timeout=2).status == 200
            except OSError:
                return False

        poll(ready, timeout, f"devhost on port {self.port} to answer", interval=0.1)
        self.keys = self.read_keys()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_peak_kib(self) -> int:
        """VmHWM of the host process (Linux)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")

    # --- HTTP helpers -------------------------------------------------------------------

    def call(
        self, method: str, path: str, body: Any = None, *, key: str | None = None, **kwargs: Any
    ) -> Reply:
        """One request; ``key`` (default: the route's, unless the path has ``code=`` or the
        headers ``x-functions-key``) goes in the ``x-functions-key`` header."""
        headers = dict(kwargs.pop("headers", None) or {})
        named = "code=" in path.lower() or any(h.lower() == "x-functions-key" for h in headers)
        chosen = self.key_for(path) if key is None and not named else key
        if chosen:
            headers["x-functions-key"] = chosen
        return call(method, self.base + path, body, headers=headers, **kwargs)

    def start_orchestration(self, name: str, payload: Any = None, instance_id: str = "") -> str:
        path = f"{WEBHOOK}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
        reply = self.call("POST", path, payload)
        assert reply.status == 202, (reply.status, reply.body)
        return reply.json()["id"]

    def status(self, instance_id: str, query: str = "") -> Reply:
        return self.call("GET", f"{WEBHOOK}/instances/{quote(instance_id, safe='')}{query}")

    def wait_for_status(
        self,
        instance_id: str,
        statuses: tuple[str, ...] = FINISHED,
        timeout: float = 60,
        query: str = "",
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            reply = self.status(instance_id, query)
            if reply.status in (200, 202, 500) and reply.json()["runtimeStatus"] in statuses:
                return reply.json()
            return None

        return poll(reached, timeout, f"instance {instance_id} to reach {statuses}")

    def sdk(self, method: str, **arguments: Any) -> Reply:
        """Call one DurableOrchestrationClient method inside the sample app."""
        return self.call("POST", f"/api/sdk/{method}", arguments)
