"""``python -m devhost [APP_FOLDER] [--port N] [--host H] [--verbose] [--data-dir D] [--no-keys]``.

Runs a Python v2-model Functions app folder like ``func start``: HTTP and timer triggers, and
Durable Functions on a local SQLite task hub, with the Durable HTTP API under
``/runtime/webhooks/durabletask/``. Keys are on (made in the data folder on the first start);
``--no-keys`` serves without them, on loopback only. Exit status 2 when the app or its settings
cannot be used, when another host holds the data folder (the message names its pid and URL), or
when the task hub file is damaged (the message names it).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import sys
from pathlib import Path

from devhost.app import AppLoadError, read_host_json, read_local_settings
from devhost.datalock import DataFolderInUse
from devhost.host import Host, HostOptions
from devhost.hubstore import TaskHubDamaged
from devhost.logs import configure_logging
from devhost.timers import ScheduleError


def parse_arguments(argv: list[str] | None = None) -> HostOptions:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Run a Python Azure Functions app (v2 model, Durable Functions) locally.",
    )
    parser.add_argument(
        "app_folder",
        nargs="?",
        default=".",
        type=Path,
        help="folder with function_app.py and host.json (default: .)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="HTTP port (default: local.settings.json Host.LocalHttpPort or 7071)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder for the task hub and timer state (default: APP/.devhost)",
    )
    parser.add_argument("--verbose", action="store_true", help="log at DEBUG level")
    parser.add_argument(
        "--no-keys",
        action="store_true",
        help="serve without keys, on loopback only (also DEVHOST_KEYLESS=1)",
    )
    arguments = parser.parse_args(argv)
    return HostOptions(
        app_folder=arguments.app_folder,
        port=arguments.port,
        host=arguments.host,
        data_dir=arguments.data_dir,
        verbose=arguments.verbose,
        keyless=arguments.no_keys,
    )


def host_log_levels(folder: Path) -> dict[str, str]:
    """host.json ``logging.logLevel``, read before the app is imported so its logs obey it."""
    values, host_section = read_local_settings(folder)
    return dict(read_host_json(folder, {**values, **os.environ}, host_section).log_levels)


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(argv)
    configure_logging(options.verbose)
    try:
        configure_logging(options.verbose, host_log_levels(options.app_folder.resolve()))
        host = Host(options)
    except (AppLoadError, ScheduleError, ValueError, DataFolderInUse) as error:
        logging.getLogger("Host.Startup").error("cannot start: %s", error)
        return 2
    try:
        asyncio.run(host.run())
    except TaskHubDamaged as error:
        logging.getLogger("Host.Startup").error("cannot start: %s", error)
        return 2
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        logging.getLogger("Host.Startup").error(
            "cannot start: port %s on %s is in use by another program; stop it or choose "
            "another port with --port",
            options.port,
            options.host,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
