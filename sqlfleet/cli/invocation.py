"""One run of the CLI: parsed arguments, the output streams, the API client, exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sqlfleet.cli.client import ApiClient
from sqlfleet.cli.output import Output

# Exit codes (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # the job ended Failed/TimedOut/Canceled, or the API could not do it (5xx, down)
EXIT_USAGE = 2  # bad arguments, a bad fleet file, or the API rejected the request (4xx)

# Lifecycles a finished execution may end in, and those that make the CLI exit 1.
UNSUCCESSFUL = frozenset({"Failed", "TimedOut", "Canceled"})


class UsageError(Exception):
    """The user asked for something the CLI cannot do as asked (exit code 2)."""


class Invocation:
    """What a command function gets: ``args``, ``output`` and (on first use) ``client``."""

    def __init__(
        self, args: argparse.Namespace, output: Output, client: ApiClient | None = None
    ) -> None:
        self.args = args
        self.output = output
        self._client = client

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            self._client = ApiClient.from_environment(
                getattr(self.args, "url", None),
                getattr(self.args, "key", None),
                getattr(self.args, "timeout", None),
            )
        return self._client

    def close(self) -> None:
        """Close the client's connection, if a client was made."""
        if self._client is not None:
            self._client.close()

    @property
    def json(self) -> bool:
        return self.output.json_mode


Command = Callable[[Invocation], int]


def count_options() -> argparse.ArgumentParser:
    """``--top N`` / ``--count N`` of a list command: at most N items (Get-Job's -Newest)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--top", "--count", dest="top", type=int, metavar="N", help="at most N items"
    )
    return parent


def first(items: list[Any], args: argparse.Namespace) -> list[Any]:
    """``items`` cut to the ``--top``/``--count`` the command line gave (all without one)."""
    top = getattr(args, "top", None)
    return items if not top or top < 0 else items[:top]


def common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after the verb (``sqlfleet jobs list --json``)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    group.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help="SQL Fleet API base URL (env SQLFLEET_URL; default http://127.0.0.1:7071)",
    )
    group.add_argument(
        "--key",
        default=argparse.SUPPRESS,
        help="function key sent as x-functions-key (env SQLFLEET_FUNCTION_KEY)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="HTTP timeout per request (default 60)",
    )
    group.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON documents"
    )
    return parent


def exit_code_for(lifecycle: str | None) -> int:
    """0 for a successful (or still running) execution, 1 for Failed/TimedOut/Canceled."""
    return EXIT_FAILED if lifecycle in UNSUCCESSFUL else EXIT_OK
