"""The function key of a host on this machine, so that ``sqlfleet`` needs no ``--key`` there.

The local host makes its keys on its first start in ``<data dir>/secrets/host.json`` (owner-only;
the file has the shape of the Functions host's file-system secrets, so the function key is
``functionKeys[name=default].value``). When neither ``--key`` nor ``SQLFLEET_FUNCTION_KEY`` is
given and the URL is on this machine (127.0.0.1, localhost, [::1]), the CLI reads the function
key from the data folder of, in this order:

1. the hosts ``sqlfleet serve`` (and ``sqlfleet demo --keep-running``) started on the URL's port,
   most recent first; they are listed in ``$XDG_STATE_HOME/sqlfleet/hosts.json`` (default
   ``~/.local/state``);
2. the default data folder (``SQLFLEET_DATA_DIR``, else ``.sqlfleet``);
3. the hosts ``sqlfleet serve --port 0`` started (on a port the OS picked), most recent first.

A key is never read for a URL on another machine: it would go to that machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

KEY_FILE = Path("secrets") / "host.json"
FUNCTION_KEY_NAME = "default"
DATA_DIR_SETTING = "SQLFLEET_DATA_DIR"
DEFAULT_DATA_DIR = ".sqlfleet"
HOSTS_FILE = "hosts.json"
MAX_RECORDED_HOSTS = 16
_LOCAL_NAMES = {"127.0.0.1", "localhost", "::1"}


def state_folder(environ: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/sqlfleet`` (default ``~/.local/state/sqlfleet``)."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sqlfleet"


def read_function_key(data_dir: Path) -> str | None:
    """The function key in ``data_dir``'s key file, or None when there is none to read."""
    try:
        document = json.loads((data_dir / KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keys = document.get("functionKeys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        return None
    named = [k for k in keys if isinstance(k, dict) and isinstance(k.get("value"), str)]
    for key in named:
        if key.get("name") == FUNCTION_KEY_NAME:
            return str(key["value"])
    return str(named[0]["value"]) if named else None


def is_local_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return (host or "").lower() in _LOCAL_NAMES


def local_function_key(url: str, environ: Mapping[str, str]) -> str | None:
    """The function key for the host at ``url`` found on this machine, if any (see above)."""
    if not is_local_url(url):
        return None
    try:
        port = urlsplit(url).port or 80
    except ValueError:
        return None
    for data_dir in candidate_folders(port, environ):
        key = read_function_key(data_dir)
        if key:
            return key
    return None


def candidate_folders(port: int, environ: Mapping[str, str]) -> list[Path]:
    recorded = _recorded_hosts(environ)
    folders = [Path(h["data_dir"]) for h in recorded if h.get("port") == port]
    folders.append(Path(environ.get(DATA_DIR_SETTING) or DEFAULT_DATA_DIR))
    folders += [Path(h["data_dir"]) for h in recorded if h.get("port") is None]
    return list(dict.fromkeys(folders))


def record_host(data_dir: Path, port: int | None, environ: Mapping[str, str]) -> None:
    """Note that a host on ``port`` (None: the host picks) keeps its data in ``data_dir``.
    Never fails the caller: a host that cannot be noted is found through --key instead."""
    entry = {"port": port, "data_dir": str(data_dir.absolute())}
    hosts = [entry] + [h for h in _recorded_hosts(environ) if h != entry]
    folder = state_folder(environ)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = folder / f".{HOSTS_FILE}.{os.getpid()}"
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"hosts": hosts[:MAX_RECORDED_HOSTS]}, file, indent=2)
        os.replace(staging, folder / HOSTS_FILE)
    except OSError:
        return


def _recorded_hosts(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    try:
        document = json.loads((state_folder(environ) / HOSTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    hosts = document.get("hosts") if isinstance(document, dict) else None
    return [
        h
        for h in (hosts if isinstance(hosts, list) else [])
        if isinstance(h, dict)
        and isinstance(h.get("data_dir"), str)
        and (h.get("port") is None or isinstance(h.get("port"), int))
    ]
