"""The monitoring page at ``/api/ui/``: files bundled in ``api/webui/``, served by the app itself
so that the same page works on the local host, on Azure and behind a private endpoint.

The files hold no data, so they are served at the anonymous level; the page asks for a function
key once (or takes it from the URL fragment ``#key=...``, which browsers never send), keeps it
in ``sessionStorage`` and sends it as ``x-functions-key`` on every API call, which are
function-level as the rest of the API. Any path that is not an asset answers the page itself,
so that every view has a URL that can be pasted: ``/api/ui/executions/<id>``.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import azure.functions as func

from api.blueprint import bp

WEBUI = Path(__file__).resolve().parent / "webui"
ASSET_PREFIX = "assets/"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_ASSET_NAME = re.compile(r"[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*\.[a-z]+")
_UI_PREFIX = re.compile(r"^(.*?/ui)(?:/|$)", re.IGNORECASE)
# Everything the page loads is its own: scripts, styles, images and API calls (no CDN).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'self'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@functools.cache
def asset(relative: str) -> Asset | None:
    """A bundled file by its path under ``api/webui`` (None when there is none)."""
    if not _ASSET_NAME.fullmatch(relative):
        return None
    path = WEBUI / relative
    if path.suffix not in _TYPES or not path.is_file():
        return None
    body = path.read_bytes()
    return Asset(body, _TYPES[path.suffix], '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


@bp.function_name("ui_page")
@bp.route(route="ui/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def ui_page(req: func.HttpRequest) -> func.HttpResponse:
    """``/api/ui/assets/...``: a bundled file (404 if there is none); any other path under
    ``/api/ui/``: the page, with ``<base href>`` at ``/api/ui/`` so its relative links work."""
    path = urlsplit(req.url).path
    prefix = _UI_PREFIX.match(path)
    base = (prefix.group(1) if prefix else "/api/ui") + "/"
    relative = path[len(base) :] if path.startswith(base) else ""
    if not path.startswith(base):  # /api/ui: the page's links are relative to /api/ui/
        return func.HttpResponse(status_code=308, headers={"Location": base, **SECURITY_HEADERS})
    if relative.startswith(ASSET_PREFIX):
        found = asset(relative)
        if found is None:
            return func.HttpResponse("no such file\n", status_code=404, mimetype="text/plain")
        return _file(req, found)
    page = asset("index.html")
    if page is None:  # a packaging error: say so rather than answer an empty page
        return func.HttpResponse("the monitoring page is missing\n", status_code=500)
    text = page.body.decode().replace("__BASE__", html.escape(base, quote=True))
    return func.HttpResponse(
        text,
        status_code=200,
        headers={
            "Content-Type": page.content_type,
            "Cache-Control": "no-cache",
            **SECURITY_HEADERS,
        },
    )


def _file(req: func.HttpRequest, found: Asset) -> func.HttpResponse:
    headers = {
        "Content-Type": found.content_type,
        "ETag": found.etag,
        "Cache-Control": "no-cache",
        **SECURITY_HEADERS,
    }
    if req.headers.get("If-None-Match") == found.etag:
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(found.body, status_code=200, headers=headers)
