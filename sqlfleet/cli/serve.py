"""``sqlfleet serve``: the local Functions host (``python -m devhost``) serving SQL Fleet's app,
and ``LocalHost``, the same host as a child process (for the demo and tests).

Both keep the task hub and the job database in one data folder (``SQLFLEET_DATA_DIR``, default
``.sqlfleet``), owner-only (0700, its files 0600: ``sqlfleet.datafiles``). Without
``SQLFLEET_CREDENTIAL_KEY`` they use a key generated once into ``<data dir>/credential.key``
(mode 0600), so password credentials work out of the box locally.
The host's own keys (function, master, system) are in ``<data dir>/secrets/host.json``, made on
its first start unless ``DEVHOST_FUNCTION_KEY`` and the like give them; ``serve`` notes its data
folder so that the other commands on this machine find the function key there
(:mod:`sqlfleet.cli.localkeys`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from sqlfleet.cli.invocation import EXIT_USAGE, Invocation, UsageError
from sqlfleet.cli.localkeys import read_function_key, record_host
from sqlfleet.datafiles import private_file, private_folder
from sqlfleet.settings import host_app_settings

# The Functions app folder: the repository root, next to the ``sqlfleet`` package.
APP_FOLDER = Path(__file__).resolve().parents[2]
DATA_DIR_SETTING = "SQLFLEET_DATA_DIR"
CREDENTIAL_KEY_SETTING = "SQLFLEET_CREDENTIAL_KEY"
DEFAULT_DATA_DIR = ".sqlfleet"
KEY_FILE = "credential.key"
HOST_START_TIMEOUT_SECONDS = 90.0
DEFAULT_PORT = 7071  # the Functions host's
_STARTED = re.compile(r"Host started on (http://\S+)")


class HostFailed(Exception):
    """The local host did not start or answer; ``log_tail`` holds its last log lines."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    serve = nouns.add_parser(
        "serve",
        help="run the local Functions host with SQL Fleet's app (like 'func start')",
        description="Run SQL Fleet on this machine: HTTP API, orchestrations and activities, with "
        "a SQLite task hub and job database in the data folder. Stop it with Ctrl-C.",
    )
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default 7071)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="task hub and job database folder (env SQLFLEET_DATA_DIR; default .sqlfleet)",
    )
    serve.add_argument("--verbose", action="store_true", help="log at DEBUG level")
    serve.set_defaults(run=serve_command)


def serve_command(cli: Invocation) -> int:
    """Replace this process by ``python -m devhost`` (signals then reach the host directly)."""
    args = cli.args
    _check_app_folder()
    data_dir = (
        args.data_dir or Path(os.environ.get(DATA_DIR_SETTING) or DEFAULT_DATA_DIR)
    ).absolute()
    environ = host_environment(data_dir)
    command = host_command(data_dir, args.port, host=args.host, verbose=args.verbose)
    record_host(data_dir, served_port(args.port), os.environ)
    port = served_port(args.port)
    if port:
        where = "127.0.0.1" if args.host in ("127.0.0.1", "0.0.0.0", "::", "") else args.host
        print(
            f"monitoring page: http://{where}:{port}/api/ui/ (with its key: sqlfleet ui --open)",
            file=sys.stderr,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, environ)
    return EXIT_USAGE  # not reached


def served_port(port: int | None) -> int | None:
    """The port a host started with ``--port port`` listens on, if known before it binds: the
    option, else local.settings.json ``Host.LocalHttpPort``, else 7071 (None for port 0)."""
    if port is not None:
        return port or None
    try:
        document = json.loads((APP_FOLDER / "local.settings.json").read_text(encoding="utf-8-sig"))
        configured = int((document.get("Host") or {}).get("LocalHttpPort") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        configured = 0
    return configured or DEFAULT_PORT


def host_command(
    data_dir: Path, port: int | None, *, host: str = "127.0.0.1", verbose: bool = False
) -> list[str]:
    command = [sys.executable, "-m", "devhost", str(APP_FOLDER), "--host", host]
    command += ["--data-dir", str(data_dir)]
    if port is not None:
        command += ["--port", str(port)]
    if verbose:
        command.append("--verbose")
    return command


def host_environment(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a local host on ``data_dir``: SQL Fleet's host settings, the data
    folder and a credential key (the caller's environment and ``extra`` win)."""
    environ = {**host_app_settings(), **os.environ, **(extra or {})}
    environ.setdefault(DATA_DIR_SETTING, str(data_dir))
    if not environ.get(CREDENTIAL_KEY_SETTING):
        environ[CREDENTIAL_KEY_SETTING] = local_credential_key(Path(environ[DATA_DIR_SETTING]))
    return environ


def local_credential_key(data_dir: Path) -> str:
    """The Fernet key in ``<data_dir>/credential.key``, created (owner-only, in an owner-only
    folder) when missing; an existing one readable by others is made private."""
    path = data_dir / KEY_FILE
    private_folder(data_dir)
    if path.exists():
        private_file(path)
        return path.read_text(encoding="ascii").strip()
    key = Fernet.generate_key().decode("ascii")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key + "\n")
    return key


def _check_app_folder() -> None:
    if not (APP_FOLDER / "function_app.py").is_file():
        raise UsageError(
            f"SQL Fleet's Functions app (function_app.py) is not in {APP_FOLDER}; run 'sqlfleet "
            "serve' from a source checkout installed with 'pip install -e .'"
        )


class LocalHost:
    """``python -m devhost`` on SQL Fleet's app as a child process, on a port the OS picks.

    ``start()`` returns the base URL once the API answers; ``stop()`` sends SIGTERM and waits.
    The host's output goes to ``log_path`` (default ``<data_dir>/host.log``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        environ: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        record: bool = False,
    ) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port
        self.extra_environ = dict(environ or {})
        self.record = record  # note the host for the CLI's key lookup once it runs
        self.log_path = log_path or self.data_dir / "host.log"
        self.url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = HOST_START_TIMEOUT_SECONDS) -> str:
        """Start the host and wait until ``/api/openapi.json`` answers. Raises ``HostFailed``."""
        _check_app_folder()
        private_folder(self.data_dir)
        environ = host_environment(self.data_dir, self.extra_environ)
        private_file(self.log_path)
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                host_command(self.data_dir, self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environ,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not the host
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise HostFailed(
                    f"the local host exited with status {self._process.returncode}",
                    self.log_tail(),
                )
            self.url = self.url or self._announced_url()
            if self.url and self._answers(self.url):
                if self.record:
                    record_host(self.data_dir, urlsplit(self.url).port, os.environ)
                return self.url
            time.sleep(0.1)  # polling a child process's readiness, with a deadline
        self.stop()
        raise HostFailed(f"the local host did not answer within {timeout:g}s", self.log_tail())

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the host's exit status (None if never run)."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
        return process.returncode

    @property
    def function_key(self) -> str | None:
        """The key the API needs: ``DEVHOST_FUNCTION_KEY`` when the host was given one, else the
        one the host made in its data folder (None for a keyless host)."""
        environ = {**os.environ, **self.extra_environ}
        return environ.get("DEVHOST_FUNCTION_KEY") or read_function_key(self.data_dir)

    def __enter__(self) -> LocalHost:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _announced_url(self) -> str | None:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        match = _STARTED.search(text)
        return match.group(1).rstrip(")") if match else None

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url + "/api/openapi.json", timeout=5) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError:
            return True  # it answers (e.g. 401 when function keys are configured)
        except (urllib.error.URLError, OSError):
            return False
