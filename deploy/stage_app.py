"""Stage SQL Fleet's Functions app for deployment, with the host.json of one durable backend.

    python3 deploy/stage_app.py --profile durable-task-scheduler --output .deploy/app

The folder it writes holds what the Functions host runs and nothing else: ``function_app.py``,
``requirements.txt``, the ``api``, ``orchestrators``, ``activities`` and ``sqlfleet`` packages
(no caches, no tests, no local settings, no local host) and the profile's ``host.json``:

| profile | host.json | durable backend |
|---|---|---|
| ``azure-storage`` | ``host.json`` (the default) | Azure Storage |
| ``durable-task-scheduler`` | ``deploy/host/durable-task-scheduler/`` | Durable Task Scheduler |
| ``mssql`` | ``deploy/host/mssql/`` | Microsoft SQL (Kubernetes with KEDA) |

``azd`` runs it before packaging (``azure.yaml``), the ``Dockerfile`` while building. It uses the
standard library only, so it runs before any virtual environment exists. A folder it did not
write is never replaced: it refuses one that exists without its marker file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = {
    "azure-storage": ROOT / "host.json",
    "durable-task-scheduler": ROOT / "deploy" / "host" / "durable-task-scheduler" / "host.json",
    "mssql": ROOT / "deploy" / "host" / "mssql" / "host.json",
}
APP_FILES = ("function_app.py", "requirements.txt")
APP_PACKAGES = ("api", "orchestrators", "activities", "sqlfleet")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
MARKER = ".sqlfleet-staged"


class StageError(Exception):
    """The app cannot be staged as asked; the message says why and what to do."""


def stage(profile: str, output: Path, source: Path = ROOT) -> Path:
    """Write the app with ``profile``'s host.json to ``output`` (replacing a folder this
    function staged before). Returns ``output``. Raises ``StageError``."""
    if profile not in PROFILES:
        raise StageError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    output = output.absolute()
    if output == source or source.is_relative_to(output):
        raise StageError(f"--output {output} would replace the source tree; pick another folder")
    if output.exists():
        if not (output / MARKER).is_file():
            raise StageError(
                f"--output {output} exists and was not written by this script; remove it or "
                "pick another folder"
            )
        shutil.rmtree(output)
    missing = [name for name in (*APP_FILES, *APP_PACKAGES) if not (source / name).exists()]
    if missing:
        raise StageError(f"{source} is not SQL Fleet's source tree: {', '.join(missing)} missing")
    output.mkdir(parents=True)
    for name in APP_FILES:
        shutil.copy2(source / name, output / name)
    for name in APP_PACKAGES:
        shutil.copytree(source / name, output / name, ignore=SKIPPED)
    shutil.copy2(PROFILES[profile], output / "host.json")
    (output / MARKER).write_text(f"{profile}\n", encoding="utf-8")
    return output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Stage the Functions app with the host.json of one durable backend."
    )
    parser.add_argument("--profile", required=True, choices=sorted(PROFILES))
    parser.add_argument("--output", required=True, type=Path, help="folder to write")
    args = parser.parse_args(argv)
    try:
        folder = stage(args.profile, args.output)
    except (StageError, OSError) as error:
        print(f"stage_app: {error}", file=sys.stderr)
        return 2
    print(f"stage_app: {args.profile} app staged in {folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
