"""What the key of a request may do: act (full access) or only look (read-only).

Keys are the Functions host's: the host has already checked that a request to a function-level
route presents a function key (or the master key). SQL Fleet cannot learn the *name* of the key
(neither Azure's host nor the local one tells the worker), so a read-only key is known by its
value: ``SQLFLEET_READ_ONLY_KEYS`` lists such keys, each the key itself or ``sha256:<hex>`` of
it (so the app settings need not hold a usable key). Keys are compared in constant time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable, Mapping

KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"


class Access(str, enum.Enum):
    """What a request's key may do (an explicit verdict, never True/False/None)."""

    FULL = "full"  # look and act: define, start, stop, rerun, remove
    READ_ONLY = "read-only"  # look only

    @property
    def may_act(self) -> bool:
        return self is Access.FULL


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, str]:
    """The key a request presents and where: the ``x-functions-key`` header when it is there,
    else the ``code`` query parameter (the Functions host's order)."""
    header = headers.get(KEY_HEADER)
    if header is not None:
        return header, KEY_HEADER
    return query.get(KEY_QUERY), KEY_QUERY


def access_of(key: str | None, read_only_keys: Iterable[str]) -> Access:
    """``READ_ONLY`` when ``key`` is one of ``read_only_keys`` (values or ``sha256:`` digests),
    ``FULL`` otherwise (a host without keys, or any other key the host accepted)."""
    if not key:
        return Access.FULL
    presented = key.encode()
    digest = hashlib.sha256(presented).hexdigest()
    verdict = Access.FULL
    for entry in read_only_keys:
        if entry.lower().startswith("sha256:"):
            same = hmac.compare_digest(entry[len("sha256:") :].lower().encode(), digest.encode())
        else:
            same = hmac.compare_digest(entry.encode(), presented)
        if same:
            verdict = Access.READ_ONLY  # no early return: the time does not say which entry
    return verdict
