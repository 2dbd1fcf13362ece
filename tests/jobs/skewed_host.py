"""``python -m tests.jobs.skewed_host APP --port N --data-dir D --offset-file F``: the devhost
(``devhost.host.Host``) on a clock that runs ahead of the wall clock by the number of seconds in
file F, read at start-up and again on SIGUSR1.

Durable timers, orchestrations' ``current_utc_datetime`` and timer triggers all follow the
host's injected clock, so a test moves schedules forward by minutes or days in a moment.
Activities and the job database keep the wall clock. The offset never goes backwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from devhost.host import Host, HostOptions
from devhost.logs import configure_logging


class SkewedClock:
    """Wall-clock UTC plus an offset that only grows; listeners hear of every jump."""

    def __init__(self, offset_file: Path) -> None:
        self._offset_file = offset_file
        self._offset = dt.timedelta(0)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self.reload()

    def now(self) -> dt.datetime:
        with self._lock:
            return dt.datetime.now(dt.timezone.utc) + self._offset

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def reload(self) -> None:
        text = self._offset_file.read_text().strip() if self._offset_file.exists() else ""
        wanted = dt.timedelta(seconds=float(text or 0))
        with self._lock:
            self._offset = max(self._offset, wanted)
        for listener in list(self._listeners):
            listener()


async def serve(options: HostOptions, clock: SkewedClock) -> None:
    host = Host(options, clock=clock)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, clock.reload)
    await host.start()
    try:
        await stop.wait()
    finally:
        await host.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app_folder", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--offset-file", type=Path, required=True)
    arguments = parser.parse_args()
    configure_logging(False)
    options = HostOptions(
        app_folder=arguments.app_folder, port=arguments.port, data_dir=arguments.data_dir
    )
    asyncio.run(serve(options, SkewedClock(arguments.offset_file)))


if __name__ == "__main__":
    main()
