"""How much a request may send and how long it may take, and reading a body within that.

Settings (local.settings.json ``Values`` or the environment):

- ``FUNCTIONS_REQUEST_BODY_SIZE_LIMIT``: the largest request body in bytes; Azure's setting, with
  its default of 104857600 (``ScriptConstants.DefaultMaxRequestBodySize``). A larger
  ``Content-Length`` is refused before a byte of the body is read; a chunked body is cut off
  once it passes the limit. Either way the answer is 413.
- ``DEVHOST_KEEPALIVE_TIMEOUT``: seconds a connection may sit idle, before its first request or
  between two (default 130, Kestrel's ``KeepAliveTimeout``).
- ``DEVHOST_REQUEST_READ_TIMEOUT``: seconds a request's head may take from its first byte, and
  the longest pause while its body arrives (default 30, Kestrel's ``RequestHeadersTimeout``);
  a body that stalls longer is answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

BODY_SIZE_SETTING = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"
KEEPALIVE_SETTING = "DEVHOST_KEEPALIVE_TIMEOUT"
READ_TIMEOUT_SETTING = "DEVHOST_REQUEST_READ_TIMEOUT"
DEFAULT_MAX_BODY_BYTES = 104_857_600
DEFAULT_KEEPALIVE_SECONDS = 130.0
DEFAULT_READ_TIMEOUT_SECONDS = 30.0


class BodyTooLarge(Exception):
    """The body is longer than the limit (``declared`` is its Content-Length, if it had one)."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        size = f"{declared} bytes" if declared is not None else "more than that"
        super().__init__(
            f"the request body ({size}) is larger than the host's limit of {limit} bytes "
            f"({BODY_SIZE_SETTING})"
        )


class BodyStalled(Exception):
    """No byte of the body arrived within the read timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the request body stopped arriving for {seconds:g} s ({READ_TIMEOUT_SETTING})"
        )


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    keepalive_timeout: float = DEFAULT_KEEPALIVE_SECONDS
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> HttpLimits:
        """Raises ValueError naming the setting when one is not a positive number."""
        return cls(
            max_body_bytes=int(
                _positive(settings, BODY_SIZE_SETTING, DEFAULT_MAX_BODY_BYTES, whole=True)
            ),
            keepalive_timeout=_positive(settings, KEEPALIVE_SETTING, DEFAULT_KEEPALIVE_SECONDS),
            read_timeout=_positive(settings, READ_TIMEOUT_SETTING, DEFAULT_READ_TIMEOUT_SECONDS),
        )


def _positive(settings: Mapping[str, str], name: str, default: float, whole: bool = False) -> float:
    text = (settings.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = -1
    if not value > 0 or not math.isfinite(value):
        kind = "a whole number of bytes" if whole else "a number of seconds"
        raise ValueError(f"{name} is '{text}'; expected {kind} above 0")
    return value


async def read_body(request: web.BaseRequest, limits: HttpLimits) -> bytes:
    """The whole body, never more than the limit. Raises BodyTooLarge, BodyStalled."""
    declared = request.content_length
    if declared is not None and declared > limits.max_body_bytes:
        raise BodyTooLarge(limits.max_body_bytes, declared)
    body = bytearray()
    while True:
        try:
            async with asyncio.timeout(limits.read_timeout):
                chunk = await request.content.readany()
        except TimeoutError:
            raise BodyStalled(limits.read_timeout) from None
        if not chunk:
            return bytes(body)
        if len(body) + len(chunk) > limits.max_body_bytes:
            raise BodyTooLarge(limits.max_body_bytes)
        body += chunk
