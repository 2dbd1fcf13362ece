"""What every request must pass before it is routed, with a key or without: its ``Host`` and its
``Origin``.

A local host is reachable from the web pages in the user's browser: a page may post a form to
``http://127.0.0.1:7071`` (no preflight for a ``text/plain`` or form body), or resolve its own
name to 127.0.0.1 and call the host under that name (DNS rebinding). So:

- **Host**: the request's ``Host`` must name this host: 127.0.0.1, localhost, [::1], the address
  it listens on (with the machine's name when that is every interface), or a name listed in
  ``DEVHOST_ALLOWED_HOSTS`` (comma-separated; ``*`` allows any). Otherwise 400, as ASP.NET
  Core's host filtering answers.
- **Origin**: a request with an ``Origin`` that is not the host's own (``http://`` + its
  ``Host``) is refused 403, unless the origin is allowed the way Azure's CORS setting allows one:
  ``DEVHOST_CORS_ORIGINS`` or local.settings.json ``Host.CORS`` (comma-separated origins; ``*``
  allows any). An allowed origin gets the CORS answer headers and its preflights answered.

Requests without ``Origin`` (the CLI, the SDK, curl) pass the second check: browsers send it on
every cross-origin request that can change something.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from multidict import CIMultiDictProxy

ALLOWED_HOSTS_SETTING = "DEVHOST_ALLOWED_HOSTS"
CORS_ORIGINS_SETTING = "DEVHOST_CORS_ORIGINS"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")
PREFLIGHT_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
PREFLIGHT_MAX_AGE = "600"


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, lower case, without port, brackets or a final dot."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    name = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    return name.rstrip(".")


def _origin_key(origin: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


@dataclass(frozen=True)
class RequestGuards:
    allowed_hosts: frozenset[str]
    any_host: bool = False
    cors_origins: frozenset[tuple[str, str, int | None]] = frozenset()
    any_origin: bool = False

    @classmethod
    def for_host(
        cls,
        listen: str,
        settings: Mapping[str, str],
        cors_origins: Iterable[str] = (),
    ) -> RequestGuards:
        """The guards of a host listening on ``listen``; ``cors_origins`` adds local.settings.json
        ``Host.CORS``. Raises ValueError naming the setting for an origin that is not a URL."""
        names = set(LOOPBACK_NAMES)
        listening = listen.strip("[]").lower()
        if listening in _WILDCARD_ADDRESSES:
            names.add(socket.gethostname().lower())
        else:
            names.add(listening)
        extra = _split(settings.get(ALLOWED_HOSTS_SETTING))
        names.update(host_name(name) for name in extra if name != "*")
        origins = _split(settings.get(CORS_ORIGINS_SETTING)) + [
            o.strip() for o in cors_origins if o.strip()
        ]
        keys = set()
        for origin in origins:
            if origin == "*":
                continue
            key = _origin_key(origin)
            if key is None:
                raise ValueError(
                    f"{CORS_ORIGINS_SETTING} (or Host.CORS) holds '{origin}', which is not an "
                    "origin; write it as scheme://host[:port], e.g. http://localhost:3000"
                )
            keys.add(key)
        return cls(frozenset(names), "*" in extra, frozenset(keys), "*" in origins)

    def check(self, request: web.BaseRequest) -> web.Response | None:
        """The refusal for this request, a preflight answer, or None to go on."""
        host = request.headers.get("Host", "")
        if not host:
            return _refusal(400, "a Host header is required")
        if not self.any_host and host_name(host) not in self.allowed_hosts:
            return _refusal(
                400,
                f"Host '{host_name(host)}' is not a name of this host; if clients reach it under "
                f"that name, add it to {ALLOWED_HOSTS_SETTING}",
            )
        origin = request.headers.get("Origin")
        if origin is None or self._same_origin(origin, host):
            return None
        if not self._allowed_origin(origin):
            return _refusal(
                403,
                f"requests from the web origin '{origin}' are refused; if pages there may call "
                f"this host, add the origin to {CORS_ORIGINS_SETTING}",
            )
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return web.Response(status=204, headers=self.preflight_headers(request.headers))
        return None

    def cors_headers(self, request_headers: CIMultiDictProxy[str]) -> dict[str, str]:
        """Headers an answer to an allowed cross-origin request carries."""
        origin = request_headers.get("Origin")
        if origin is None or self._same_origin(origin, request_headers.get("Host", "")):
            return {}
        allowed = "*" if self.any_origin else origin
        return {"Access-Control-Allow-Origin": allowed, "Vary": "Origin"}

    def preflight_headers(self, request_headers: CIMultiDictProxy[str]) -> dict[str, str]:
        headers = self.cors_headers(request_headers)
        headers["Access-Control-Allow-Methods"] = PREFLIGHT_METHODS
        asked = request_headers.get("Access-Control-Request-Headers")
        if asked:
            headers["Access-Control-Allow-Headers"] = asked
        headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return headers

    def _same_origin(self, origin: str, host: str) -> bool:
        own = _origin_key(f"http://{host}")
        return own is not None and _origin_key(origin) == own

    def _allowed_origin(self, origin: str) -> bool:
        if self.any_origin:
            return True
        key = _origin_key(origin)
        return key is not None and key in self.cors_origins


def _refusal(status: int, message: str) -> web.Response:
    response = web.Response(status=status, text=message + "\n", content_type="text/plain")
    response.force_close()
    return response
