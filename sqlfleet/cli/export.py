"""``sqlfleet export [--output fleet.yaml] [--key-vault URL]``.

Writes the host's credentials, target groups and jobs as a fleet file that ``sqlfleet apply``
takes back unchanged, to carry a fleet from one host to another (the local host to Azure, say).
No secret is written: passwords become ``${ENV_VAR}`` references (or Key Vault secret URIs with
``--key-vault``); the variables to set are listed in the file's header and on stderr.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlfleet.cli.client import api_path
from sqlfleet.cli.invocation import EXIT_OK, Invocation, UsageError


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    export = nouns.add_parser(
        "export",
        parents=[common],
        help="write the host's credentials, target groups and jobs as a fleet file",
        description="Write what the host holds as a fleet file that 'sqlfleet apply' takes back "
        "unchanged. Secrets are never written: passwords become ${ENV_VAR} references (or Key "
        "Vault secret URIs with --key-vault).",
    )
    export.add_argument(
        "-o", "--output", type=Path, default=None, help="file to write (default: stdout)"
    )
    export.add_argument(
        "--key-vault",
        metavar="URL",
        default=None,
        help="turn password credentials into keyVault credentials reading secret "
        "<name>-password from this vault (https://<vault>.vault.azure.net)",
    )
    export.set_defaults(run=export_command)


def export_command(cli: Invocation) -> int:
    """Fetch, convert, write. Raises ``ExportError`` (exit 2), ``UsageError``, ``ApiError``."""
    from sqlfleet.fleetexport import export_fleet  # pydantic models load only when used

    args = cli.args
    client = cli.client
    fleet = export_fleet(
        client.items(api_path("credentials")),
        client.items(api_path("target-groups")),
        client.items(api_path("jobs")),
        key_vault=args.key_vault,
    )
    if args.output is not None:
        _write(args.output, fleet.text)
    if cli.json:
        document: dict[str, Any] = {
            "file": None if args.output is None else str(args.output),
            "counts": fleet.counts,
            "password_variables": fleet.password_variables,
        }
        if args.output is None:
            document["text"] = fleet.text
        cli.output.json(document)
        return EXIT_OK
    if args.output is None:
        stdout = cli.output.console.file
        stdout.write(fleet.text)
        stdout.flush()
    counts = fleet.counts
    summary = (
        f"{counts['credentials']} credential(s), {counts['target_groups']} target group(s), "
        f"{counts['jobs']} job(s)"
    )
    where = f"wrote {args.output}" if args.output is not None else "exported"
    cli.output.note(f"{where}: {summary}")
    if fleet.password_variables:
        names = ", ".join(fleet.password_variables.values())
        cli.output.note(f"set {names} to the passwords before 'sqlfleet apply'")
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a failed write leaves the old file)."""
    folder = path.absolute().parent
    if not folder.is_dir():
        raise UsageError(f"--output {path}: folder {folder} does not exist")
    if path.is_dir():
        raise UsageError(f"--output {path} is a folder; give a file name such as fleet.yaml")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except OSError as error:
        raise UsageError(f"--output {path}: cannot write the file: {error.strerror}") from None
