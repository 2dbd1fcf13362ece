"""``sqlfleet``: the command line of SQL Fleet, a client of its HTTP API.

``main(argv)`` parses, runs one command and returns the exit code: 0 success, 1 the execution
ended Failed/TimedOut/Canceled (or the API could not answer), 2 usage errors (bad arguments, a
bad fleet file, a 4xx answer). Errors print one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sqlfleet.cli.client import ApiError
from sqlfleet.cli.invocation import (
    EXIT_FAILED,
    EXIT_USAGE,
    Invocation,
    UsageError,
    common_options,
)
from sqlfleet.cli.output import Output
from sqlfleet.errors import SqlFleetError

EXIT_INTERRUPTED = 130

EPILOG = """\
examples:
  sqlfleet demo                                  the tutorial, end to end, on this machine
  sqlfleet serve                                 run the local host on :7071
  sqlfleet apply -f examples/fleet.yaml          declare credentials, groups, jobs
  sqlfleet export -o fleet.yaml                  write them back out (to apply elsewhere)
  sqlfleet start Job1 --wait                     run a job and watch it
  sqlfleet run --target-group G --command "SELECT 1" --wait   run SQL now, without a job
  sqlfleet receive EXECUTION_ID --format csv     what every target returned
  sqlfleet rerun EXECUTION_ID --wait             run its failed targets again
  sqlfleet ui --open                             the monitoring page
"""


# The module that registers each command (sqlfleet.cli.<module>), in the order ``--help`` lists
# them. A command line that names one imports only its module, so the CLI starts fast.
COMMAND_MODULES = {
    "serve": "serve",
    "demo": "demo",
    "apply": "apply",
    "export": "export",
    **dict.fromkeys(("start", "get", "stop", "remove", "executions"), "executions"),
    **dict.fromkeys(("wait", "receive"), "receiving"),
    **dict.fromkeys(("rerun", "ui"), "monitoring"),
    "run": "runs",
    **dict.fromkeys(("credentials", "credential"), "credentials"),
    **dict.fromkeys(
        ("target-groups", "target-group", "groups", "members", "member"), "target_groups"
    ),
    **dict.fromkeys(("jobs", "job", "steps", "step"), "jobs"),
    **dict.fromkeys(("notifications", "notification"), "notifications"),
}
# Common options that take a value (the word after them is not a command).
_VALUED_OPTIONS = frozenset({"--url", "--key", "--timeout"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or (``command``) only of the module that registers it."""
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="sqlfleet",
        description="SQL Fleet: Elastic Jobs for any fleet of SQL databases.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action=_VersionAction)
    nouns = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else COMMAND_MODULES.values()
    for name in dict.fromkeys(wanted):
        module = importlib.import_module(name if "." in name else f"sqlfleet.cli.{name}")
        module.register(nouns, common)
    return parser


def command_named(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (skipping common options and their values), or None."""
    words = iter(argv)
    for word in words:
        if word in _VALUED_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


class _VersionAction(argparse.Action):
    """``--version``: the installed package's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        sys.stdout.write(f"sqlfleet {_version()}\n")
        parser.exit()


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("sqlfleet")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sqlfleet`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_named(words))
    try:
        args = parser.parse_args(words)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    output = Output(json_mode=bool(getattr(args, "json", False)))
    cli = Invocation(args, output)
    try:
        return int(args.run(cli))
    except UsageError as error:
        output.error(str(error))
        return EXIT_USAGE
    except ApiError as error:
        output.error(error.message)
        return EXIT_USAGE if error.is_client_error else EXIT_FAILED
    except SqlFleetError as error:  # FleetFileError and model errors raised before any request
        output.error(error.message)
        return EXIT_USAGE
    except KeyboardInterrupt:
        output.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`); nothing left to say
        return EXIT_FAILED
    finally:
        cli.close()


if __name__ == "__main__":
    sys.exit(main())
