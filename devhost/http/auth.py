"""Keys, as the Functions host checks them (``x-functions-key`` header, else ``code`` query).

A host has either all three keys (function, master, system; :mod:`devhost.hostkeys` says where
they come from) or none at all, in keyless mode. What each level accepts is Azure's rule
(``SecretManager.GetAuthorizationLevelAsync`` and the host's authorization policies):

- ``function``: a function key (``default`` or any other named one) or the master key;
- ``admin`` (``/admin/...`` and ``auth_level=ADMIN`` functions): the master key only;
- ``system`` (the Durable HTTP API, ``/runtime/webhooks/durabletask/``): the extension's system
  key (``durabletask_extension``) or the master key.

Where the request comes from does not matter: a call from this machine needs a key like any
other. Keyless mode grants every level; the host then listens on loopback only.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from multidict import CIMultiDictProxy

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
    KEYLESS = "keyless host"  # the host runs without keys (loopback only)
    FUNCTION_KEY = "function key"
    MASTER_KEY = "master key"
    SYSTEM_KEY = "system key"
    MISSING_KEY = "missing key"
    INVALID_KEY = "invalid key"  # wrong, or a key of another level

    @property
    def granted(self) -> bool:
        return self not in (AuthResult.MISSING_KEY, AuthResult.INVALID_KEY)


@dataclass(frozen=True)
class HostKeys:
    """The keys a host accepts; all None in keyless mode."""

    function_key: str | None = None
    master_key: str | None = None
    system_key: str | None = None
    # Named function keys besides ``default`` (Azure's ``functionKeys`` map holds any number).
    other_function_keys: tuple[str, ...] = ()

    @property
    def keyless(self) -> bool:
        return self.function_key is None and self.master_key is None and self.system_key is None

    def __repr__(self) -> str:  # keys never reach logs or error text
        return "HostKeys(keyless)" if self.keyless else "HostKeys(function, master, system)"


def presented_key(headers: CIMultiDictProxy[str], code_values: list[str]) -> str | None:
    """The key a request presents: the header when it is there (even empty), else ``code``."""
    if KEY_HEADER in headers:
        return headers.getone(KEY_HEADER)
    return code_values[0] if code_values else None


def _same(presented: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(presented.encode(), expected.encode())


def authorize(level: AuthLevel, presented: str | None, keys: HostKeys) -> AuthResult:
    """Decide one request against an endpoint's level."""
    if level is AuthLevel.ANONYMOUS:
        return AuthResult.ANONYMOUS
    if keys.keyless:
        return AuthResult.KEYLESS
    if not presented:
        return AuthResult.MISSING_KEY
    if _same(presented, keys.master_key):
        return AuthResult.MASTER_KEY
    if level is AuthLevel.FUNCTION and (
        _same(presented, keys.function_key)
        # Every key is compared, so the time taken does not say which one matched.
        | any([_same(presented, other) for other in keys.other_function_keys])
    ):
        return AuthResult.FUNCTION_KEY
    if level is AuthLevel.SYSTEM and _same(presented, keys.system_key):
        return AuthResult.SYSTEM_KEY
    return AuthResult.INVALID_KEY
