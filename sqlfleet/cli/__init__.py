"""``sqlfleet``: the command line of SQL Fleet, a client of its HTTP API.

``main(argv)`` parses, runs one command and returns the exit code: 0 success, 1 the execution
ended Failed/TimedOut/Canceled (or the API could not answer), 2 usage errors (bad arguments, a
bad fleet file, a 4xx answer). Errors print one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence

from sqlfleet.cli import (
    apply,
    credentials,
    executions,
    export,
    jobs,
    monitoring,
    runs,
    serve,
    target_groups,
)
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


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="sqlfleet",
        description="SQL Fleet: Elastic Jobs for any fleet of SQL databases.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument(
        "--version", action="version", version=f"sqlfleet {_version()}", help="print the version"
    )
    nouns = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve.register(nouns, common)
    _register_demo(nouns, common)
    apply.register(nouns, common)
    export.register(nouns, common)
    executions.register(nouns, common)
    runs.register(nouns, common)
    monitoring.register(nouns, common)
    credentials.register(nouns, common)
    target_groups.register(nouns, common)
    jobs.register(nouns, common)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("sqlfleet")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "unknown (not installed)"


def _register_demo(nouns: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    from sqlfleet import demo

    demo.register(nouns, common)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sqlfleet`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
