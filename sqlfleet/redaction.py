"""The one redaction rule: what never leaves the process in plain text (logs, documents, errors).

Kept apart from ``sqlfleet.credentials`` so that a script process imports it without the models.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"
# Keys whose values are secrets wherever they appear in a mapping (logs, documents, errors).
SENSITIVE_KEYS = frozenset(
    {"password", "pwd", "secret", "secret_ciphertext", "token", "access_token", "credential_key"}
)
_CONNECTION_STRING_SECRET = re.compile(r"(?i)\b(pwd|password)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` with secrets replaced by ``***``: values under sensitive keys of mappings,
    ``PWD=``/``Password=`` in connection strings, passwords in URLs, and every given secret."""
    known = sorted((s for s in secrets if s), key=len, reverse=True)
    return _redact(value, known)


def _redact(value: Any, known: list[str]) -> Any:
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
        value = _CONNECTION_STRING_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", value)
        return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and key.lower() in SENSITIVE_KEYS and item is not None
            else _redact(item, known)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(item, known) for item in value)
    return value
