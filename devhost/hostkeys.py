"""Where a host's keys come from: settings, else the key file in its data folder; or nowhere.

- ``DEVHOST_FUNCTION_KEY``, ``DEVHOST_MASTER_KEY``, ``DEVHOST_SYSTEM_KEY``: keys the operator
  gives; each one that is set is used instead of the file's.
- Every other key comes from ``<data dir>/secrets/host.json``, which the host writes on its first
  start (the folder mode 0700, the file 0600) with random URL-safe keys of 40 random bytes, the
  size Azure's ``SecretGenerator`` uses. The file has the shape of the Functions host's
  file-system secrets (``HostSecrets``): ``masterKey``, ``functionKeys`` (``default``) and
  ``systemKeys`` (``durabletask_extension``, the Durable extension's webhook key). As on Azure,
  ``functionKeys`` may hold more named keys (add them to the file); each is a function key.
- Keyless mode (``--no-keys`` or ``DEVHOST_KEYLESS=1``): no keys, no file, and the host listens
  on loopback only (:func:`check_keyless_address`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.datalock import make_private_file, make_private_folder
from devhost.http.auth import HostKeys

FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
SYSTEM_KEY_SETTING = "DEVHOST_SYSTEM_KEY"
KEYLESS_SETTING = "DEVHOST_KEYLESS"
KEY_FILE = Path("secrets") / "host.json"
FUNCTION_KEY_NAME = "default"
MASTER_KEY_NAME = "master"
SYSTEM_KEY_NAME = "durabletask_extension"
KEY_BYTES = 40
_TRUE = {"1", "true", "yes"}
_FALSE = {"", "0", "false", "no"}

logger = logging.getLogger("Host.Startup")


class KeySetupError(ValueError):
    """The keys cannot be set up as configured; the message names the setting or file."""


@dataclass(frozen=True)
class KeySetup:
    """The keys a host uses and, for its startup lines, where each one came from."""

    keys: HostKeys
    sources: tuple[tuple[str, str], ...] = ()  # (key kind, setting name or file path)

    def describe(self) -> str:
        if self.keys.keyless:
            return (
                "none (keyless mode): every route answers without a key; listening on loopback only"
            )
        by_source: dict[str, list[str]] = {}
        for kind, source in self.sources:
            by_source.setdefault(source, []).append(kind)
        return "; ".join(
            f"{_and(kinds)} key{'s' if len(kinds) > 1 else ''} from {source}"
            for source, kinds in by_source.items()
        )


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def generate_key() -> str:
    """40 random bytes, URL-safe; never starting with '-', which a command line would take for
    an option."""
    while True:
        key = secrets.token_urlsafe(KEY_BYTES)
        if key[0].isalnum():
            return key


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def keyless_setting(settings: Mapping[str, str]) -> bool:
    """``DEVHOST_KEYLESS``: 1/true/yes or 0/false/no (or unset)."""
    value = (settings.get(KEYLESS_SETTING) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise KeySetupError(f"{KEYLESS_SETTING} is '{value}'; use 1 (no keys) or 0")


def check_keyless_address(listen: str) -> None:
    """Keyless mode serves loopback only. Raises KeySetupError for any other address."""
    if listen.lower() == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(listen.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise KeySetupError(
            f"keyless mode listens on loopback only, not on '{listen}': use --host 127.0.0.1, or "
            f"run with keys (drop --no-keys / {KEYLESS_SETTING})"
        )


def set_up_keys(settings: Mapping[str, str], data_dir: Path, *, keyless: bool) -> KeySetup:
    """The host's keys: settings first, the data folder's key file (created once) for the rest.

    Raises KeySetupError when keyless mode is combined with key settings, or the key file
    cannot be read.
    """
    given = {
        "function": (FUNCTION_KEY_SETTING, settings.get(FUNCTION_KEY_SETTING) or None),
        "master": (MASTER_KEY_SETTING, settings.get(MASTER_KEY_SETTING) or None),
        "system": (SYSTEM_KEY_SETTING, settings.get(SYSTEM_KEY_SETTING) or None),
    }
    if keyless:
        named = [name for name, value in given.values() if value]
        if named:
            raise KeySetupError(
                f"keyless mode and {', '.join(named)} exclude each other; unset one or the other"
            )
        return KeySetup(HostKeys())
    sources = [(kind, name) for kind, (name, value) in given.items() if value]
    stored = HostKeys()
    if len(sources) < len(given):
        path = key_file(data_dir)
        if path.exists():
            make_private_folder(path.parent)
            make_private_file(path)
            stored = read_key_file(path)
        else:
            stored = create_key_file(path)
        sources += [(kind, str(path)) for kind, (_, value) in given.items() if not value]
    keys = HostKeys(
        function_key=given["function"][1] or stored.function_key,
        master_key=given["master"][1] or stored.master_key,
        system_key=given["system"][1] or stored.system_key,
        other_function_keys=stored.other_function_keys,
    )
    order = list(given)
    return KeySetup(keys, tuple(sorted(sources, key=lambda pair: order.index(pair[0]))))


def create_key_file(path: Path) -> HostKeys:
    """Write new keys to ``path`` (0600, in a 0700 folder) unless another host just did; the
    keys now in the file."""
    path.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path.parent, 0o700)
    keys = HostKeys(generate_key(), generate_key(), generate_key())
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(_secrets_document(keys), file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another host wrote it meanwhile: use it
            os.link(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return read_key_file(path)


def read_key_file(path: Path) -> HostKeys:
    """The keys in ``path``. Raises KeySetupError naming the file when it is unusable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        default = _named_value(document.get("functionKeys"), FUNCTION_KEY_NAME)
        keys = HostKeys(
            function_key=default,
            master_key=str(document["masterKey"]["value"]),
            system_key=_named_value(document.get("systemKeys"), SYSTEM_KEY_NAME),
            other_function_keys=tuple(
                str(key["value"])
                for key in document.get("functionKeys") or []
                if isinstance(key, dict) and key.get("value") and str(key["value"]) != default
            ),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise KeySetupError(
            f"cannot read the host keys in {path} ({type(error).__name__}: {error}); "
            "delete the file to have new keys made"
        ) from None
    if not (keys.function_key and keys.master_key and keys.system_key):
        raise KeySetupError(f"{path} lacks a key; delete the file to have new keys made")
    if path.stat().st_mode & 0o077:
        logger.warning("%s can be read by other users; make it private: chmod 600 %s", path, path)
    return keys


def _named_value(keys: Any, name: str) -> str | None:
    """The value of the key called ``name`` (or of the first key) in a HostSecrets list."""
    if not isinstance(keys, list) or not keys:
        return None
    for key in keys:
        if isinstance(key, dict) and key.get("name") == name:
            return str(key["value"])
    first = keys[0]
    return str(first["value"]) if isinstance(first, dict) else None


def _secrets_document(keys: HostKeys) -> dict[str, Any]:
    def key(name: str, value: str | None) -> dict[str, Any]:
        return {"name": name, "value": value, "encrypted": False}

    return {
        "masterKey": key(MASTER_KEY_NAME, keys.master_key),
        "functionKeys": [key(FUNCTION_KEY_NAME, keys.function_key)],
        "systemKeys": [key(SYSTEM_KEY_NAME, keys.system_key)],
        "source": "devhost",
    }
