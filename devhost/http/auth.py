"""Function keys, as the Functions host checks them (``code`` query or ``x-functions-key`` header).

Settings (local.settings.json ``Values`` or the environment):

- ``DEVHOST_FUNCTION_KEY``: accepted by ``auth_level=FUNCTION`` functions.
- ``DEVHOST_MASTER_KEY``: the master key; accepted by every level (function, admin, system).
- ``DEVHOST_SYSTEM_KEY``: the ``durabletask_extension`` system key for the Durable HTTP API
  (``/runtime/webhooks/durabletask/``); it is also written into the status URLs as ``code=``.

A level is enforced only when a key that satisfies it is configured; with no keys at all devhost
behaves like Core Tools, which checks nothing locally. The Durable HTTP API also serves the SDK's
``rpcBaseUrl`` calls, which never carry a key (on Azure they go to the extension's loopback-only
RPC listener), so requests *from a loopback address that carry no key* are let through there.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
SYSTEM_KEY_SETTING = "DEVHOST_SYSTEM_KEY"
KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"


class AuthLevel(str, enum.Enum):
    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"
    SYSTEM = "system"  # the Durable HTTP API (extension system key)

    @classmethod
    def parse(cls, text: str) -> AuthLevel:
        try:
            return cls(text.lower())
        except ValueError as error:
            raise ValueError(
                f"unknown auth level '{text}'; use anonymous, function or admin"
            ) from error


class AuthResult(enum.Enum):
    ANONYMOUS = "anonymous"  # the endpoint needs no key
    NOT_ENFORCED = "not enforced"  # no key for this level is configured
    FUNCTION_KEY = "function key"
    MASTER_KEY = "master key"
    SYSTEM_KEY = "system key"
    LOOPBACK = "loopback"  # keyless call from this machine to the Durable HTTP API
    MISSING_KEY = "missing key"
    INVALID_KEY = "invalid key"

    @property
    def granted(self) -> bool:
        return self not in (AuthResult.MISSING_KEY, AuthResult.INVALID_KEY)


@dataclass(frozen=True)
class HostKeys:
    function_key: str | None = None
    master_key: str | None = None
    system_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> HostKeys:
        return cls(
            function_key=settings.get(FUNCTION_KEY_SETTING) or None,
            master_key=settings.get(MASTER_KEY_SETTING) or None,
            system_key=settings.get(SYSTEM_KEY_SETTING) or None,
        )

    def __repr__(self) -> str:  # keys never reach logs or error text
        configured = [
            n
            for n, v in (
                ("function", self.function_key),
                ("master", self.master_key),
                ("system", self.system_key),
            )
            if v
        ]
        return f"HostKeys(configured={configured})"


def _same(presented: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(presented.encode(), expected.encode())


def authorize(
    level: AuthLevel, presented: str | None, keys: HostKeys, *, from_loopback: bool = False
) -> AuthResult:
    """Decide one request. ``presented`` is the ``code`` query or ``x-functions-key`` header."""
    if level is AuthLevel.ANONYMOUS:
        return AuthResult.ANONYMOUS
    accepted: list[tuple[str | None, AuthResult]] = [(keys.master_key, AuthResult.MASTER_KEY)]
    if level is AuthLevel.FUNCTION:
        accepted.append((keys.function_key, AuthResult.FUNCTION_KEY))
    elif level is AuthLevel.SYSTEM:
        accepted.append((keys.system_key, AuthResult.SYSTEM_KEY))
    if all(expected is None for expected, _ in accepted):
        return AuthResult.NOT_ENFORCED
    if presented is None or presented == "":
        if level is AuthLevel.SYSTEM and from_loopback:
            return AuthResult.LOOPBACK
        return AuthResult.MISSING_KEY
    for expected, result in accepted:
        if _same(presented, expected):
            return result
    return AuthResult.INVALID_KEY
