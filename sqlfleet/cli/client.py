"""The CLI's client of SQL Fleet's HTTP API (stdlib ``http.client``; JSON in, JSON out).

Every failure becomes an ``ApiError`` whose ``message`` is one line: the API's own ``message``
for 4xx/5xx answers, or what went wrong on the way (host unreachable, not JSON).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode, urlsplit

from sqlfleet.cli.localkeys import KEY_FILE, local_function_key

DEFAULT_URL = "http://127.0.0.1:7071"
URL_SETTING = "SQLFLEET_URL"
KEY_SETTING = "SQLFLEET_FUNCTION_KEY"
KEY_HEADER = "x-functions-key"
DEFAULT_TIMEOUT_SECONDS = 60.0


class ApiError(Exception):
    """A request the API refused (``status`` 4xx/5xx) or could not answer (``status`` None).

    ``code`` is the API's stable error code, ``field`` the offending input field, if any.
    """

    def __init__(
        self, message: str, status: int | None = None, code: str | None = None,
        field: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field

    @property
    def is_client_error(self) -> bool:
        """The request itself was wrong (4xx): a usage error for the CLI."""
        return self.status is not None and 400 <= self.status < 500


class Reply(NamedTuple):
    status: int
    body: Any
    headers: Mapping[str, str]


def api_path(*segments: str | int) -> str:
    """``/api/<segment>/...`` with every segment percent-encoded (names may hold spaces)."""
    return "/api/" + "/".join(quote(str(segment), safe="") for segment in segments)


class ApiClient:
    """Talks to one SQL Fleet host over one kept connection. ``key`` is sent as
    ``x-functions-key`` (auth level FUNCTION)."""

    def __init__(
        self, base_url: str = DEFAULT_URL, key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:  # fmt: skip
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiError(
                f"--url {base_url!r} is not an http(s) URL; expected e.g. {DEFAULT_URL}", status=400
            )
        self.base_url = base_url.rstrip("/")
        self._path_prefix = urlsplit(self.base_url).path
        self._key = key or None
        self.timeout = timeout
        self._kept: http.client.HTTPConnection | None = None

    @classmethod
    def from_environment(
        cls, url: str | None = None, key: str | None = None, timeout: float | None = None
    ) -> ApiClient:
        """Options first, then ``SQLFLEET_URL`` / ``SQLFLEET_FUNCTION_KEY``, then defaults; for
        a host on this machine, the function key in its data folder (``cli.localkeys``)."""
        base_url = url or os.environ.get(URL_SETTING) or DEFAULT_URL
        return cls(
            base_url,
            key or os.environ.get(KEY_SETTING) or local_function_key(base_url, os.environ),
            timeout or DEFAULT_TIMEOUT_SECONDS,
        )

    @property
    def key(self) -> str | None:
        """The function key this client sends (for ``sqlfleet ui``'s link), or None."""
        return self._key

    def __repr__(self) -> str:  # the key never reaches logs or error text
        return f"ApiClient({self.base_url!r}, key={'set' if self._key else 'none'})"

    def request(
        self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None
    ) -> Reply:
        """Send one request; the answer's JSON body (or None). Raises ``ApiError``."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._key:
            headers[KEY_HEADER] = self._key
        try:
            status, reason, raw, reply_headers = self._send(method, path, query, data, headers)
        except OSError as error:
            raise ApiError(
                f"cannot reach the SQL Fleet API at {self.base_url} ({error}); start it with "
                f"'sqlfleet serve' or point --url / {URL_SETTING} at a running host"
            ) from None
        if status >= 400:
            raise _http_error(method, path, status, reason, raw)
        return Reply(status, _json(raw), reply_headers)

    def _send(
        self, method: str, path: str, query: Mapping[str, Any] | None, data: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, str, bytes, dict[str, str]]:  # fmt: skip
        """One exchange on the kept connection. A connection that served earlier requests and
        that the host has closed since (idle) is opened again once; a new one's failure is
        the answer."""
        target = self._path_prefix + path
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            target += "?" + urlencode(params)
        while True:
            reused = self._kept is not None
            connection = self._connection()
            try:
                connection.request(method, target, body=data, headers=headers)
                response = connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if not reused:
                    raise
                continue
            except (OSError, http.client.HTTPException) as error:
                self.close()
                raise OSError(str(error) or type(error).__name__) from None
            if response.will_close:
                self.close()
            return response.status, response.reason, raw, dict(response.getheaders())

    def _connection(self) -> http.client.HTTPConnection:
        if self._kept is None:
            parts = urlsplit(self.base_url)
            kind = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._kept = kind(parts.netloc, timeout=self.timeout)
        return self._kept

    def close(self) -> None:
        """Close the kept connection (a later request opens another)."""
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query).body

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body).body

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        return self.request("POST", path, body=body, query=query).body

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body=body).body

    def delete(self, path: str, **query: Any) -> None:
        self.request("DELETE", path, query=query)

    def exists(self, path: str) -> bool:
        """Whether GET ``path`` answers 200 (False on 404; other errors raise)."""
        try:
            self.get(path)
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def paged_items(self, path: str, **query: Any) -> Iterator[Any]:
        """Every item of a paged list (``{"items": [...], "continuation": ...}``), fetching
        the next page as the caller gets there."""
        while True:
            body = self.get(path, **query)
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise ApiError(f"GET {path} did not answer a list", status=None)
            yield from body["items"]
            if not body.get("continuation"):
                return
            query = {**query, "continuation": body["continuation"]}

    def items(self, path: str, **query: Any) -> list[Any]:
        """The items of a list answer (``{"value": [...]}`` or ``{"items": [...]}``)."""
        body = self.get(path, **query)
        if isinstance(body, dict):
            for key in ("value", "items"):
                if isinstance(body.get(key), list):
                    return list(body[key])
        raise ApiError(f"GET {path} did not answer a list", status=None)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


# The API's hints name its routes; a CLI user is told the command that does the same.
_NAME = r"(?P<name>[^\s),;]+)"
_CLI_HINTS = (
    (re.compile(rf"POST /api/jobs/{_NAME}/steps"), "sqlfleet steps create {name} ..."),
    (re.compile(rf"PUT /api/jobs/{_NAME}"), "sqlfleet jobs create {name}"),
    (re.compile(rf"PUT /api/credentials/{_NAME}"), "sqlfleet credentials create {name} ..."),
    (re.compile(rf"PUT /api/target-groups/{_NAME}"), "sqlfleet target-groups create {name}"),
    (re.compile(rf"POST /api/executions/{_NAME}/cancel"), "sqlfleet stop {name}"),
    (re.compile(rf"DELETE /api/executions/{_NAME}"), "sqlfleet remove {name}"),
)


def cli_hints(message: str) -> str:
    """``message`` with every API route hint replaced by the ``sqlfleet`` command for it."""
    for pattern, command in _CLI_HINTS:

        def replace(match: re.Match[str], command: str = command) -> str:
            return "'" + command.format(name=shlex.quote(match.group("name"))) + "'"

        message = pattern.sub(replace, message)
    return message


def _http_error(method: str, path: str, status: int, reason: str, raw: bytes) -> ApiError:
    body = _json(raw)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = cli_hints(body["message"])
        field = body.get("field")
        # Validation answers name the field; say it when the message does not already.
        if field and status in (400, 422) and field not in message:
            message = f"{field}: {message}"
        return ApiError(message, status, body.get("code"), field)
    if status == 401:
        return ApiError(
            f"{method} {path}: 401 Unauthorized; pass the function key with --key or "
            f"{KEY_SETTING} (a local host keeps it in <data dir>/{KEY_FILE.as_posix()})",
            401,
            "Unauthorized",
        )
    text = body.strip().splitlines()[0][:200] if isinstance(body, str) and body.strip() else ""
    return ApiError(
        f"{method} {path}: HTTP {status} {reason}" + (f": {text}" if text else ""), status
    )
