"""The SQL Fleet app on a real ``python -m devhost`` subprocess, and an HTTP client for it.

``JobsHost.start`` launches the host on a free port with its own data folder (job database and
task hub) and Fernet key, polls until it answers, then reads the keys the host made in its data
folder; every request carries the one its route needs. Every HTTP body it answers is kept, so the
secrets scan can prove that no response ever carried a password.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from devhost.http.auth import HostKeys
from sqlfleet.settings import host_app_settings
from tests.devhost.host.hostproc import host_keys, key_for
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = "/runtime/webhooks/durabletask"
# The longest wait one request of the tests asks for (requests time out after 60 s).
LONG_POLL_SECONDS = 20
TERMINAL = {"Succeeded", "SucceededWithSkipped", "Failed", "TimedOut", "Canceled", "Skipped"}


@dataclass
class Reply:
    status: int
    body: Any
    raw: bytes


def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Call ``predicate`` until it returns something truthy; fail naming ``what`` at the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def long_poll_seconds(deadline: float) -> int:
    """The ``wait`` of a long-poll that ends by ``deadline`` (a monotonic time), well inside a
    request's own timeout."""
    return max(0, min(LONG_POLL_SECONDS, math.ceil(deadline - time.monotonic())))


@dataclass
class JobsHost:
    """``python -m devhost`` on the SQL Fleet app; with ``skewed`` the host runs on
    ``tests.jobs.skewed_host``'s clock, which ``skew`` moves ahead of the wall clock."""

    data_dir: Path
    env: dict[str, str]
    port: int = 0
    skewed: bool = False
    process: subprocess.Popen[bytes] | None = None
    responses: list[bytes] = field(default_factory=list)
    keys: HostKeys = field(default_factory=HostKeys)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "host.log"

    @property
    def hub_dir(self) -> Path:
        return self.data_dir / "hub"

    @property
    def offset_file(self) -> Path:
        return self.data_dir / "clock-offset"

    @classmethod
    def start(cls, data_dir: Path, env: dict[str, str], *, skewed: bool = False) -> JobsHost:
        host = cls(data_dir, env, free_port(), skewed)
        host.launch()
        return host

    def launch(self, timeout: float = 90) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environment = {**host_app_settings(), **os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        module = ["tests.jobs.skewed_host"] if self.skewed else ["devhost"]
        arguments = ["--port", str(self.port), "--data-dir", str(self.hub_dir)]
        if self.skewed:
            arguments += ["--offset-file", str(self.offset_file)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *module, str(ROOT), *arguments],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"devhost exited ({self.process.returncode}):\n{self.log()}")
            try:
                return self.call("GET", "/admin/host/ping", timeout=2).status == 200
            except OSError:
                return False

        poll(ready, timeout, f"devhost on port {self.port}")
        self.keys = host_keys(self.hub_dir, self.env)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)

    def skew(self, seconds: float) -> None:
        """Move the host's clock to ``seconds`` ahead of the wall clock (never backwards)."""
        assert self.skewed and self.process is not None
        self.offset_file.write_text(str(seconds))
        self.process.send_signal(signal.SIGUSR1)

    def restart(self) -> None:
        """Stop the host and start it again on the same data (downtime, as after a crash), on
        a fresh port: the old one may have gone to another process meanwhile."""
        self.stop()
        self.port = free_port()
        self.launch()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- HTTP -----------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, *, timeout: float = 60) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        key = key_for(self.keys, path)
        if key:
            headers["x-functions-key"] = key
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        self.responses.append(raw)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Reply(status, parsed, raw)

    def ok(self, method: str, path: str, body: Any = None, *, status: tuple[int, ...] = ()) -> Any:
        """The body of a request that must succeed (2xx, or one of ``status``)."""
        reply = self.call(method, path, body)
        wanted = status or tuple(range(200, 300))
        assert reply.status in wanted, f"{method} {path} -> {reply.status}: {reply.body}"
        return reply.body

    # --- SQL Fleet ------------------------------------------------------------------------

    def put_job(self, name: str, steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        return self.ok("PUT", f"/api/jobs/{quote(name)}", {"steps": steps, **fields})

    def start_job(self, name: str) -> str:
        reply = self.call("POST", f"/api/jobs/{quote(name)}/start")
        assert reply.status == 202, f"start {name} -> {reply.status}: {reply.body}"
        return str(reply.body["job_execution_id"])

    def execution(self, execution_id: str, **query: Any) -> dict[str, Any]:
        suffix = f"?{urlencode(query)}" if query else ""
        return self.ok("GET", f"/api/executions/{execution_id}{suffix}")

    def targets(self, execution_id: str, step_id: int | None = None) -> list[dict[str, Any]]:
        suffix = f"?step_id={step_id}" if step_id is not None else ""
        return self.ok("GET", f"/api/executions/{execution_id}/targets{suffix}")["items"]

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``sqlfleet ARGS`` against this host, in a process of its own (stdout piped)."""
        command = [
            sys.executable, "-c", "import sys; from sqlfleet.cli import main; sys.exit(main())",
            "--url", self.base, "--key", self.keys.function_key or "", *args,
        ]  # fmt: skip
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )

    def wait_finished(self, execution_id: str, timeout: float = 60) -> dict[str, Any]:
        """The execution once it has ended: each request is a long-poll that the API answers
        at the end (``until=ended``), so the end is seen at once, without polling hard."""
        deadline = time.monotonic() + timeout

        def finished() -> dict[str, Any] | None:
            wait = long_poll_seconds(deadline)
            execution = self.execution(execution_id, until="ended", wait=wait)
            return None if execution["is_active"] else execution

        return poll(finished, timeout, f"execution {execution_id} to finish", interval=0.2)

    def run_job(self, name: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_finished(self.start_job(name), timeout)

    def instances(self, prefix: str) -> list[dict[str, Any]]:
        """The task hub's orchestration instances whose id starts with ``prefix``."""
        body = self.ok("GET", f"{WEBHOOK}/instances?instanceIdPrefix={quote(prefix)}&top=1000")
        return list(body)


def start_with_viewer_key(
    folder: Path, env: dict[str, str], *, as_digest: bool = False
) -> tuple[JobsHost, str]:
    """A host whose key file holds a second named function key, ``viewer``, that
    ``SQLFLEET_READ_ONLY_KEYS`` names (the key itself, or its ``sha256:`` digest): the host
    accepts it as any function key, SQL Fleet lets it look but not act. Answers the host and
    the viewer key."""
    import hashlib
    import secrets as random

    hub_secrets = folder / "hub" / "secrets"
    hub_secrets.mkdir(parents=True, mode=0o700)
    viewer = random.token_urlsafe(40)

    def key(name: str, value: str) -> dict[str, Any]:
        return {"name": name, "value": value, "encrypted": False}

    document = {
        "masterKey": key("master", random.token_urlsafe(40)),
        "functionKeys": [key("default", random.token_urlsafe(40)), key("viewer", viewer)],
        "systemKeys": [key("durabletask_extension", random.token_urlsafe(40))],
    }
    path = hub_secrets / "host.json"
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    listed = "sha256:" + hashlib.sha256(viewer.encode()).hexdigest() if as_digest else viewer
    host = JobsHost.start(
        folder, {**env, "SQLFLEET_READ_ONLY_KEYS": f"some-other-key-0123456789, {listed}"}
    )
    return host, viewer
