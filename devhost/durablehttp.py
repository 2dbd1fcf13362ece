"""Durable HTTP (``context.call_http``) as the Durable Functions extension runs it; pure, no I/O.

The extension (azure-functions-durable-extension ``DurableOrchestrationContext.CallHttpAsync``)
schedules the built-in activity :data:`HTTP_ACTIVITY` with the request as its input, and that
activity (:mod:`devhost.httpactivity` here) answers with a ``DurableHttpResponse`` document, the
``TaskCompleted.Result`` the SDK hands to the orchestrator as a dict.

The extension reads the SDK's ``httpRequest`` with Newtonsoft, so a member the SDK leaves out gets
its type's default, not the C# constructor's: ``asynchronousPatternEnabled`` is *false* unless the
action says ``true``, and azure-functions-durable 1.7 never says it. Only then does the extension
poll a 202: a durable timer (``Retry-After`` seconds, else host.json
``extensions.durableTask.httpSettings.defaultAsyncRequestSleepTimeMilliseconds``), then a GET of
``Location``, each one more sequence id (:class:`devhost.tasks.HttpPoll`). The Python SDK 1.7
cannot replay those ids, which is why it never asks for polling: its orchestrators get the 202.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, replace
from typing import Any

HTTP_ACTIVITY = "BuiltIn::HttpActivity"
"""The extension's reserved activity name (``HttpOptions.HttpTaskActivityReservedName``)."""

DEFAULT_ASYNC_SLEEP_MS = 30_000
"""``HttpOptions.DefaultAsyncRequestSleepTimeMilliseconds``: the pause before polling a 202."""

MANAGED_IDENTITY = "AzureManagedIdentity"
FUNCTIONS_KEY_HEADER = "x-functions-key"  # never copied to a poll (the extension's rule)

_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$")

Headers = dict[str, list[str]]
"""Header name -> values, one entry per name compared case-insensitively (first spelling kept)."""


class HttpRequestRefused(Exception):
    """The action's ``httpRequest`` cannot be run; the orchestration fails with this message."""


def set_header(headers: Headers, name: str, values: list[str]) -> None:
    """Replace ``name``'s values, keeping the spelling the name was first given (.NET's rule)."""
    for known in headers:
        if known.lower() == name.lower():
            headers[known] = values
            return
    headers[name] = values


def header(headers: dict[str, Any], name: str) -> str | None:
    """One header of a request or response document, values joined as .NET's StringValues."""
    for known, value in headers.items():
        if known.lower() == name.lower():
            if isinstance(value, list):
                return ",".join(str(v) for v in value)
            return None if value is None else str(value)
    return None


@dataclass(frozen=True)
class DurableHttpRequest:
    """The extension's ``DurableHttpRequest``, read and written as its JSON converter does."""

    method: str
    uri: str
    headers: Headers
    content: str | None = None
    token_source: dict[str, Any] | None = None
    asynchronous_pattern_enabled: bool = False
    timeout: dt.timedelta | None = None

    @classmethod
    def from_json(cls, data: Any) -> DurableHttpRequest:
        """Read an action's ``httpRequest``; raises HttpRequestRefused for what cannot run."""
        if not isinstance(data, dict):
            raise HttpRequestRefused("the CallHttp action has no 'httpRequest' object")
        if data.get("retryOptions") is not None:
            raise HttpRequestRefused(
                "devhost does not run HTTP retry options ('retryOptions' in the CallHttp "
                "request; azure-functions-durable 1.7 never sends them). Remove them, or retry "
                "in the orchestrator by calling call_http again."
            )
        method = data.get("method")
        uri = data.get("uri")
        content = data.get("content")
        return cls(
            method=method if isinstance(method, str) else "GET",
            uri=uri if isinstance(uri, str) else "",
            headers=_read_headers(data.get("headers")),
            content=None if content is None else _text(content),
            token_source=_read_token_source(data.get("tokenSource")),
            asynchronous_pattern_enabled=data.get("asynchronousPatternEnabled") is True,
            timeout=_read_timespan(data.get("timeout")),
        )

    @classmethod
    def from_activity_input(cls, input_json: str | None) -> DurableHttpRequest:
        """The request back from the activity's input (a one-element JSON array, as DTFx
        serializes the activity's parameters)."""
        data = json.loads(input_json or "null")
        return cls.from_json(data[0] if isinstance(data, list) and data else data)

    def to_json(self) -> dict[str, Any]:
        """The extension's serialization: every member, in its declaration order."""
        return {
            "method": self.method,
            "uri": self.uri,
            "headers": {k: v[0] if len(v) == 1 else v for k, v in self.headers.items()},
            "content": self.content,
            "tokenSource": self.token_source,
            "asynchronousPatternEnabled": self.asynchronous_pattern_enabled,
            "retryOptions": None,
            "timeout": None if self.timeout is None else format_timespan(self.timeout),
        }

    def activity_input(self) -> str:
        """``TaskScheduled.Input`` of the built-in activity."""
        return json.dumps([self.to_json()], separators=(",", ":"), ensure_ascii=False)

    def location_poll(self, location: str) -> DurableHttpRequest:
        """``CreateLocationPollRequest``: a GET of ``location`` with the same headers (but the
        function key), token source and timeout. It is built by C# code, so the C# default
        ``asynchronousPatternEnabled: true`` applies."""
        headers = {k: v for k, v in self.headers.items() if k.lower() != FUNCTIONS_KEY_HEADER}
        return replace(
            self,
            method="GET",
            uri=location,
            headers=headers,
            content=None,
            asynchronous_pattern_enabled=True,
        )


def response_json(status: int, headers: Headers, content: str) -> str:
    """``TaskCompleted.Result`` of the built-in activity: the extension's DurableHttpResponse."""
    document = {
        "statusCode": status,
        "headers": {k: v[0] if len(v) == 1 else v for k, v in headers.items()},
        "content": content,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


# --- the 202 polling loop (only for requests that enable it) ----------------------------------


class PollFailed(Exception):
    """The extension's polling loop threw; its CallHttp task faults (the .NET message)."""


def poll_delay(result_json: str | None, default_sleep: dt.timedelta) -> dt.timedelta | None:
    """How long to wait before polling an answer, or None when it is final (not a 202).

    ``Retry-After`` must be whole seconds: the extension ``int.Parse``\\ s it (an HTTP date
    raises PollFailed, as the FormatException does there).
    """
    response = json.loads(result_json or "null")
    if not isinstance(response, dict) or response.get("statusCode") != 202:
        return None
    headers = response.get("headers") or {}
    retry_after = header(headers, "Retry-After") if isinstance(headers, dict) else None
    if retry_after is None:
        return default_sleep
    try:
        return dt.timedelta(seconds=int(retry_after.strip()))
    except ValueError as error:
        raise PollFailed(
            f"Retry-After '{retry_after}' is not a whole number of seconds "
            "(Input string was not in a correct format.)"
        ) from error


def location_of(result_json: str | None) -> str:
    """The absolute ``Location`` of a 202 answer; raises PollFailed as the extension throws."""
    response = json.loads(result_json or "null")
    headers = response.get("headers") if isinstance(response, dict) else None
    location = header(headers, "Location") if isinstance(headers, dict) else None
    if location is None:
        raise PollFailed("The given key 'Location' was not present in the dictionary.")
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", location):
        raise PollFailed("Invalid URI: The format of the URI could not be determined.")
    return location


# --- .NET TimeSpan text -------------------------------------------------------------------


def format_timespan(value: dt.timedelta) -> str:
    """.NET ``TimeSpan.ToString("c")``: ``[-][d.]hh:mm:ss[.fffffff]``."""
    ticks = round(value.total_seconds() * 10_000_000)
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    seconds, fraction = divmod(ticks, 10_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    text = f"{sign}{f'{days}.' if days else ''}{hour:02d}:{minute:02d}:{second:02d}"
    return text + (f".{fraction:07d}" if fraction else "")


def _read_timespan(value: Any) -> dt.timedelta | None:
    if value is None:
        return None
    match = _TIMESPAN.match(str(value).strip())
    if match is None:
        raise HttpRequestRefused(
            f"the CallHttp request's 'timeout' {value!r} is not a .NET TimeSpan "
            "([-][d.]hh:mm:ss[.fffffff])"
        )
    sign, days, hours, minutes, seconds, fraction = match.groups()
    span = dt.timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((fraction or "0").ljust(7, "0")) / 10,
    )
    return -span if sign else span


# --- reading the SDK's members ------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _read_headers(raw: Any) -> Headers:
    """Values may be a string or a list of strings (anything else reads as no values)."""
    headers: Headers = {}
    if not isinstance(raw, dict):
        return headers
    for name, value in raw.items():
        if isinstance(value, str):
            values = [value]
        elif isinstance(value, list):
            values = [_text(v) for v in value if v is not None]
        else:
            values = []
        set_header(headers, str(name), values)
    return headers


def _read_token_source(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind != MANAGED_IDENTITY:
        shown = json.dumps(kind) if kind is not None else "(none)"
        raise HttpRequestRefused(f"The token source kind '{shown}' is not supported.")
    source: dict[str, Any] = {"kind": MANAGED_IDENTITY, "resource": raw.get("resource")}
    if raw.get("options") is not None:
        source["options"] = raw["options"]
    return source
