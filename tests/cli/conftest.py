"""Fixtures of the CLI suite: a live local host (``python -m devhost`` as a subprocess, port from
the OS, temp data folder) and ``sqlfleet`` run in-process against it with captured streams."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sqlfleet.cli import main
from sqlfleet.cli.demo import make_sqlite_server
from sqlfleet.cli.serve import LocalHost

ROOT = Path(__file__).resolve().parents[2]
SQLFLEET = str(Path(sys.executable).with_name("sqlfleet"))


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def error_line(self) -> str:
        """stderr, which must be exactly one ``error: ...`` line."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, f"expected one error line, got: {self.err!r}"
        assert lines[0].startswith("error: "), lines[0]
        assert "Traceback" not in self.err
        return lines[0]


class Cli:
    """``sqlfleet ARGS`` in this process, talking to ``url`` with the function ``key``."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str], key: str | None) -> None:
        self.url = url
        self.key = key
        self._capsys = capsys

    def __call__(self, *args: str) -> Run:
        self._capsys.readouterr()
        code = main(["--url", self.url, *(["--key", self.key] if self.key else []), *args])
        captured = self._capsys.readouterr()
        assert "Traceback" not in captured.err
        return Run(code, captured.out, captured.err)

    def ok(self, *args: str) -> Run:
        run = self(*args)
        assert run.code == 0, f"sqlfleet {' '.join(args)} exited {run.code}: {run.err}"
        return run

    def json(self, *args: str) -> Any:
        return self.ok(*args, "--json").json


def start_host(data_dir: Path, sqlite_root: Path) -> LocalHost:
    """A host on ``data_dir`` that allows SQLite folders under ``sqlite_root``."""
    host = LocalHost(data_dir, environ={"SQLFLEET_SQLITE_ROOTS": str(sqlite_root)})
    host.start()
    return host


@pytest.fixture(scope="session")
def local_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """One local host for the session; tests use names unique to them."""
    # Tests make their SQLite folders in their own tmp_path: all under the session's base.
    host = start_host(tmp_path_factory.mktemp("host"), tmp_path_factory.getbasetemp())
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def cli(local_host: LocalHost, capsys: pytest.CaptureFixture[str]) -> Cli:
    assert local_host.url
    return Cli(local_host.url, capsys, local_host.function_key)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Path:
    """A folder with db1.db, db2.db, db3.db (a SQLite "server")."""
    folder = tmp_path / "server1"
    make_sqlite_server(folder)
    return folder


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """An environment variable holding a password; returns its name."""
    monkeypatch.setenv("SQLFLEET_TEST_PASSWORD", "Pa55-word-never-printed")
    return "SQLFLEET_TEST_PASSWORD"


@pytest.fixture(scope="session", autouse=True)
def cli_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """What every ``sqlfleet`` of the session sees: this checkout's code first (the venv's
    ``sqlfleet`` script may belong to another checkout's editable install), and a state folder
    of the session's for the hosts the CLI notes, never the user's."""
    folder = tmp_path_factory.getbasetemp() / "xdg-state"
    saved = {name: os.environ.get(name) for name in ("XDG_STATE_HOME", "PYTHONPATH")}
    os.environ["XDG_STATE_HOME"] = str(folder)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
    try:
        yield folder
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def subprocess_environment(url: str, **extra: str) -> dict[str, str]:
    environ = {**os.environ, "SQLFLEET_URL": url, **extra}
    environ["PATH"] = f"{Path(sys.executable).parent}:{environ.get('PATH', '')}"
    return environ
