"""The one redaction rule: what never leaves the process in plain text (logs, documents, errors).

A known secret (a target's password) is masked as a whole value, never as a piece of a word:

- a text (or a field of a document) that *is* the secret, surrounding spaces aside, is masked
  whatever the secret's length;
- inside a longer text, a secret of at least ``MIN_SECRET_LENGTH_IN_TEXT`` characters is masked
  wherever it stands as a whole token: not glued to letters, digits or ``_`` on a side where the
  secret itself starts or ends with one. A password ``x`` leaves "does not exist" alone, and a
  password ``postgres`` leaves "postgresql" alone, while "for user 'u' (hunter2)" loses
  ``hunter2``. Shorter secrets are too common as words to mask inside text; they are masked only
  where they are the whole value, and in the two shapes below.

Whatever their length, passwords are masked after ``PWD=``/``Password=`` in connection strings
and between ``:`` and ``@`` in URLs, and values under sensitive keys of mappings are masked.

Kept apart from ``sqlfleet.credentials`` so that a script process imports it without the models.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"
# Shorter secrets are masked in text only where they are the whole value (see the docstring).
MIN_SECRET_LENGTH_IN_TEXT = 4
# Keys whose values are secrets wherever they appear in a mapping (logs, documents, errors).
SENSITIVE_KEYS = frozenset(
    {"password", "pwd", "secret", "secret_ciphertext", "token", "access_token", "credential_key"}
)
_CONNECTION_STRING_SECRET = re.compile(r"(?i)\b(pwd|password)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")
_WORD = re.compile(r"\w")


class _Secret:
    """One known secret: the value itself, and the pattern of its whole-token occurrences."""

    __slots__ = ("in_text", "value")

    def __init__(self, value: str) -> None:
        self.value = value
        self.in_text: re.Pattern[str] | None = None
        if len(value) >= MIN_SECRET_LENGTH_IN_TEXT:
            # Look around only on a side where the secret is a word character itself: a secret
            # that ends in '!' is a whole token whatever follows it.
            before = r"(?<!\w)" if _WORD.match(value[0]) else ""
            after = r"(?!\w)" if _WORD.match(value[-1]) else ""
            self.in_text = re.compile(before + re.escape(value) + after)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` with secrets replaced by ``***``: values under sensitive keys of mappings,
    ``PWD=``/``Password=`` in connection strings, passwords in URLs, and every given secret as
    a whole value or a whole token (see the module docstring)."""
    known = [_Secret(s) for s in sorted({s for s in secrets if s}, key=len, reverse=True)]
    return _redact(value, known)


def _redact(value: Any, known: list[_Secret]) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if any(stripped == secret.value or value == secret.value for secret in known):
            return REDACTED
        for secret in known:
            if secret.in_text is not None:
                value = secret.in_text.sub(REDACTED, value)
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
