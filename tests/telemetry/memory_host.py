"""``python -m tests.telemetry.memory_host APP --port N --data-dir D --dump-file F``: the devhost
with SQL Fleet's telemetry set up from the environment plus an in-memory span exporter, whose
finished spans it writes to F (JSON, atomically) on SIGUSR1."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devhost.host import Host, HostOptions
from devhost.logs import configure_logging
from sqlfleet import telemetry
from sqlfleet.telemetry.pipeline import pipeline_from_environment


def span_document(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "kind": span.kind.name,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "description": span.status.description,
        "start": span.start_time,
        "end": span.end_time,
    }


async def serve(options: HostOptions, memory: InMemorySpanExporter, dump_file: Path) -> None:
    host = Host(options)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def dump() -> None:
        spans = [span_document(span) for span in memory.get_finished_spans()]
        temporary = dump_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(spans))
        os.replace(temporary, dump_file)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump)
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
    parser.add_argument("--dump-file", type=Path, required=True)
    arguments = parser.parse_args()
    configure_logging(False)
    memory = InMemorySpanExporter()
    telemetry.install(pipeline_from_environment(span_processors=[SimpleSpanProcessor(memory)]))
    options = HostOptions(
        app_folder=arguments.app_folder, port=arguments.port, data_dir=arguments.data_dir
    )
    asyncio.run(serve(options, memory, arguments.dump_file))


if __name__ == "__main__":
    main()
