"""Parameters on the command line: ``--parameter NAME=VALUE`` and ``--parameters-file F.json``
(``start``, ``run``), and ``--declare NAME[:TYPE][:secret][=DEFAULT]`` (``jobs create/update``).

Values are sent as text (the API checks them against the declared types); for ``run``, whose
parameters are declared by the run itself, ``--parameter NAME:TYPE=VALUE`` gives the type.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sqlfleet.cli.invocation import UsageError

TYPES = ("string", "int", "decimal", "bool", "datetime")


def add_value_options(parser: argparse.ArgumentParser, *, typed: bool = False) -> None:
    spec = "NAME:TYPE=VALUE" if typed else "NAME=VALUE"
    parser.add_argument(
        "--parameter",
        "-p",
        dest="parameters",
        action="append",
        default=[],
        metavar=spec,
        help="a parameter value (repeatable); $(NAME) in the script becomes a quoted literal"
        + ("; TYPE is one of " + "|".join(TYPES) + " (default string)" if typed else ""),
    )
    parser.add_argument(
        "--parameters-file",
        metavar="F.json",
        help='parameter values from a JSON object {"name": value, ...} (--parameter wins)',
    )


def parameter_values(args: argparse.Namespace) -> dict[str, Any]:
    """The values of ``--parameters-file`` then ``--parameter`` (types dropped)."""
    return {name: value for name, (_, value) in typed_values(args).items()}


def typed_values(args: argparse.Namespace) -> dict[str, tuple[str | None, Any]]:
    """``{name: (type or None, value)}`` from ``--parameters-file`` then ``--parameter``."""
    values: dict[str, tuple[str | None, Any]] = {}
    if args.parameters_file:
        path = Path(args.parameters_file)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"--parameters-file {path}: {error}") from None
        if not isinstance(document, dict):
            raise UsageError(f'--parameters-file {path}: expected a JSON object {{"name": value}}')
        values.update({str(name): (None, value) for name, value in document.items()})
    for item in args.parameters:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise UsageError(f"--parameter {item!r}: expected NAME=VALUE")
        kind: str | None = None
        if ":" in name:
            name, kind = name.split(":", 1)
            if kind not in TYPES:
                raise UsageError(f"--parameter {item!r}: TYPE must be one of {', '.join(TYPES)}")
        values[name] = (kind, value)
    return values


def add_declare_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--declare",
        action="append",
        default=None,
        metavar="NAME[:TYPE][:secret][=DEFAULT]",
        help="declare a parameter (repeatable; replaces the declared ones); TYPE is "
        + "|".join(TYPES)
        + " (default string); e.g. --declare tenant --declare limit:int=10 "
        "--declare token:string:secret",
    )


def declarations(specs: list[str]) -> list[dict[str, Any]]:
    """The API's parameter declarations for ``--declare`` specs."""
    declared = []
    for spec in specs:
        head, equals, default = spec.partition("=")
        name, *rest = head.split(":")
        document: dict[str, Any] = {"name": name}
        for word in rest:
            if word == "secret":
                document["secret"] = True
            elif word in TYPES:
                document["type"] = word
            else:
                raise UsageError(
                    f"--declare {spec!r}: expected NAME[:TYPE][:secret][=DEFAULT], TYPE one of "
                    + ", ".join(TYPES)
                )
        if equals:
            document["default"] = default
        declared.append(document)
    return declared
