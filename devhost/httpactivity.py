"""``BuiltIn::HttpActivity``: the request of a ``context.call_http``, run on an activity thread.

It does what the extension's ``TaskHttpActivityShim`` does with the HttpClient of
``DurableHttpClientFactory`` (a 240 s timeout, redirects followed), with urllib:

* headers go out as given, except ``Content-Type``, which only describes ``content``: without
  content it is dropped, with content it defaults to ``text/plain`` and must be a bare
  ``type/subtype`` (.NET refuses parameters such as ``; charset=utf-8``, except that
  ``application/x-www-form-urlencoded`` gets ``; charset=utf-8`` added); multipart and the other
  content headers are refused;
* the answer becomes ``{"statusCode", "headers", "content"}`` with the response headers only
  (.NET keeps Content-Type, Content-Length and the other content headers apart) and the body
  decoded as text, whatever the status: a 404 or a 500 is an answer, not a failure;
* a request that gets no answer fails the task as the extension's do: ``HttpRequestException``
  (connection refused, DNS, TLS), the client timeout, or the request's own ``timeout``.

A ``tokenSource`` (managed identity) is refused: there is no managed identity off Azure.
"""

from __future__ import annotations

import http.client
import re
import ssl
import urllib.error
import urllib.request
from email.message import Message
from typing import IO, NoReturn
from urllib.parse import urlsplit

from devhost.durablehttp import (
    DurableHttpRequest,
    Headers,
    HttpRequestRefused,
    format_timespan,
    response_json,
    set_header,
)
from devhost.history import dotnet_exception

CLIENT_TIMEOUT_SECONDS = 240.0
"""``DurableHttpClientFactory``: the HttpClient's timeout when the request sets none."""

MAX_REDIRECTS = 50  # HttpClientHandler.MaxAutomaticRedirections
USER_AGENT = "Microsoft.Azure.WebJobs.Extensions.DurableTask/devhost"

CONTENT_HEADERS = frozenset(
    {
        "allow",
        "content-disposition",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "expires",
        "last-modified",
    }
)
""".NET's ``HttpContentHeaders``: not request headers, and not in a DurableHttpResponse."""

_KNOWN_RESPONSE_HEADERS = {
    name.lower(): name
    for name in (
        "Accept-Ranges",
        "Access-Control-Allow-Credentials",
        "Access-Control-Allow-Headers",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Origin",
        "Access-Control-Expose-Headers",
        "Access-Control-Max-Age",
        "Age",
        "Alt-Svc",
        "Cache-Control",
        "Connection",
        "Date",
        "ETag",
        "Keep-Alive",
        "Link",
        "Location",
        "Pragma",
        "Proxy-Authenticate",
        "Retry-After",
        "Server",
        "Set-Cookie",
        "Strict-Transport-Security",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Vary",
        "Via",
        "Warning",
        "WWW-Authenticate",
    )
}
"""Names .NET spells its own way whatever the wire says (it knows these headers)."""

_MEDIA_TYPE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_FORM = "application/x-www-form-urlencoded"
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


class HttpActivityFailed(Exception):
    """The built-in activity failed: ``reason`` and ``details`` go to TaskFailed."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


def run_http_activity(
    input_json: str | None, client_timeout: float = CLIENT_TIMEOUT_SECONDS
) -> str:
    """Send the request in the activity's input; returns the DurableHttpResponse JSON text.

    Raises HttpActivityFailed when no answer came back (or the request cannot be sent).
    """
    try:
        request = DurableHttpRequest.from_activity_input(input_json)
    except (ValueError, HttpRequestRefused) as error:
        _unhandled("System.ArgumentException", f"Invalid durable HTTP request: {error}")
    if request.token_source is not None:
        resource = request.token_source.get("resource")
        _unhandled(
            "Azure.Identity.CredentialUnavailableException",
            f"devhost cannot call {request.uri} with a managed identity token for resource "
            f"'{resource}' (call_http token_source, kind 'AzureManagedIdentity'): managed "
            "identities exist only on Azure, so the request was not sent. Get a token in an "
            "activity (e.g. azure.identity's DefaultAzureCredential after 'az login') and pass "
            "it in an 'Authorization: Bearer <token>' header instead.",
        )
    prepared = _prepare(request)
    if request.timeout is not None:
        timeout = max(request.timeout.total_seconds(), 0.001)
    else:
        timeout = client_timeout
    try:
        with _OPENER.open(prepared, timeout=timeout) as answer:
            return _document(answer.status, answer.headers, answer)
    except urllib.error.HTTPError as answer:  # any status is an answer
        with answer:
            return _document(answer.code, answer.headers, answer)
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            _timed_out(request, client_timeout)
        _request_failed(reason if isinstance(reason, OSError) else None, prepared.full_url)
    except TimeoutError:
        _timed_out(request, client_timeout)
    except (http.client.HTTPException, OSError) as error:
        _request_failed(error if isinstance(error, OSError) else None, prepared.full_url)


def _prepare(request: DurableHttpRequest) -> urllib.request.Request:
    """``ConvertToHttpRequestMessage``, with the errors .NET raises for what it refuses."""
    parts = urlsplit(request.uri)
    if not parts.scheme or not parts.netloc:
        _unhandled(
            "System.InvalidOperationException",
            "An invalid request URI was provided. Either the request URI must be an absolute URI "
            f"or BaseAddress must be set. (uri: {request.uri!r})",
        )
    if parts.scheme.lower() not in ("http", "https"):
        _unhandled("System.NotSupportedException", f"The '{parts.scheme}' scheme is not supported.")
    content_type = ""
    sent: dict[str, str] = {}
    for name, values in request.headers.items():
        lowered = name.lower()
        if lowered == "content-type":
            for value in values:
                if "multipart" in value:
                    _unhandled(
                        "Microsoft.Azure.WebJobs.Extensions.DurableTask.FunctionFailedException",
                        "Multipart content is not supported with CallHttpAsync.",
                    )
                content_type = value
        elif lowered in CONTENT_HEADERS:
            _unhandled(
                "System.InvalidOperationException",
                f"Misused header name, '{name}'. Make sure request headers are used with "
                "HttpRequestMessage, response headers with HttpResponseMessage, and content "
                "headers with HttpContent objects.",
            )
        else:
            sent[name] = ", ".join(values)
    body = None
    if request.content is not None:
        content_type = content_type or "text/plain"
        if not _MEDIA_TYPE.match(content_type):
            _unhandled(
                "System.FormatException", f"The format of value '{content_type}' is invalid."
            )
        if content_type.lower() == _FORM:
            content_type += "; charset=utf-8"
        sent["Content-Type"] = content_type
        body = request.content.encode("utf-8")
    return urllib.request.Request(request.uri, data=body, headers=sent, method=request.method)


def _document(status: int, message: Message, body: IO[bytes]) -> str:
    headers: Headers = {}
    for name, value in message.items():
        if name.lower() in CONTENT_HEADERS:
            continue
        name = _KNOWN_RESPONSE_HEADERS.get(name.lower(), name)
        existing = next((v for k, v in headers.items() if k.lower() == name.lower()), [])
        set_header(headers, name, [*existing, value])
    return response_json(status, headers, _text(body.read(), message.get_content_charset()))


def _text(data: bytes, charset: str | None) -> str:
    """``ReadAsStringAsync``: the declared charset, else the byte-order mark, else UTF-8."""
    encoding = charset
    for mark, name in _BOMS:
        if data.startswith(mark) and (charset is None or charset.lower().replace("_", "-") in name):
            data, encoding = data[len(mark) :], name
            break
    try:
        return data.decode(encoding or "utf-8", errors="replace")
    except LookupError:
        _unhandled(
            "System.InvalidOperationException",
            "The character set provided in ContentType is invalid. Cannot read content as string "
            f"using an invalid character set. ('{charset}')",
        )


class _DotNetRedirects(urllib.request.HTTPRedirectHandler):
    """HttpClientHandler's redirects: 300-303 turn a POST (303: anything but GET/HEAD) into a
    GET without content; 307/308 resend as is; never from https to http; no Authorization."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        if code not in (300, 301, 302, 303, 307, 308):
            return None
        if urlsplit(req.full_url).scheme == "https" and urlsplit(newurl).scheme == "http":
            return None
        method = req.get_method()
        to_get = (code <= 302 and method == "POST") or (
            code == 303 and method not in ("GET", "HEAD")
        )
        dropped = {"authorization"} | ({"content-type", "content-length"} if to_get else set())
        kept = {k: v for k, v in req.headers.items() if k.lower() not in dropped}
        return urllib.request.Request(
            newurl.replace(" ", "%20"),
            data=None if to_get else req.data,
            headers=kept,
            origin_req_host=req.origin_req_host,
            unverifiable=True,
            method="GET" if to_get else method,
        )


def _opener() -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(_DotNetRedirects)
    opener.addheaders = [("User-Agent", USER_AGENT)]
    return opener


_OPENER = _opener()


# --- failures, as the extension's TaskFailed events carry them ------------------------------


def _unhandled(class_name: str, message: str) -> NoReturn:
    """An exception the shim lets escape: DTFx's "Unhandled exception while executing task"."""
    raise HttpActivityFailed(
        message, f"Unhandled exception while executing task: {class_name}: {message}"
    )


def _timed_out(request: DurableHttpRequest, client_timeout: float) -> NoReturn:
    if request.timeout is None:
        _unhandled(
            "System.Threading.Tasks.TaskCanceledException",
            "The request was canceled due to the configured HttpClient.Timeout of "
            f"{client_timeout:g} seconds elapsing.",
        )
    message = (
        "The operation was canceled. Reached user specified timeout: "
        f"{format_timespan(request.timeout)}."
    )
    details = dotnet_exception(
        "System.TimeoutException", message, None, assembly="System.Private.CoreLib"
    )
    raise HttpActivityFailed(message, details)


def _request_failed(error: OSError | None, url: str) -> NoReturn:
    """``HttpRequestException``, with SocketsHttpHandler's message: "<error> (host:port)"."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if isinstance(error, ssl.SSLError):
        message = "The SSL connection could not be established, see inner exception."
    elif isinstance(error, ConnectionRefusedError):
        message = f"Connection refused ({parts.hostname}:{port})"
    elif error is not None and error.strerror:
        message = f"{error.strerror} ({parts.hostname}:{port})"
    else:
        message = "An error occurred while sending the request."
    details = dotnet_exception(
        "System.Net.Http.HttpRequestException", message, None, assembly="System.Net.Http"
    )
    raise HttpActivityFailed(message, details)
