"""``sqlfleet demo``: Azure SQL Elastic Jobs' tutorial, end to end, on this machine.

1. Target databases: a SQLite "server" (a folder with db1.db, db2.db, db3.db), and three
   PostgreSQL databases when a server answers on 127.0.0.1:5432. Both are made afresh each run.
2. The local host (``python -m devhost``) on a free port, with the SQLite task hub and job
   database in ``host/`` of the demo's folder (default ``.sqlfleet/demo``), and SQLite targets
   allowed in ``server1/`` only (``SQLFLEET_SQLITE_ROOTS``): never in the host's own data.
3. ``apply`` of ``examples/fleet.yaml`` (plus the PostgreSQL databases as members).
4. ``start Job1`` with live progress, the per-target results and the status-query URLs.
5. The check: Step1Table in every database, Step2Table in every database but db2.
The host is stopped at the end; running the demo again gives the same result.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlfleet.cli.apply import apply_fleet
from sqlfleet.cli.client import ApiClient, api_path
from sqlfleet.cli.executions import STATUS_URLS, target_table
from sqlfleet.cli.invocation import EXIT_FAILED, EXIT_OK, Invocation, UsageError
from sqlfleet.cli.output import Output, make_fields_table, make_table
from sqlfleet.cli.progress import watch_execution
from sqlfleet.cli.serve import APP_FOLDER, HostFailed, LocalHost
from sqlfleet.settings import SQLITE_ROOTS

if TYPE_CHECKING:
    from sqlfleet.fleetfile import Fleet
    from sqlfleet.models import MemberIn

FLEET_FILE = APP_FOLDER / "examples" / "fleet.yaml"
JOB_NAME = "Job1"
GROUPS = ("ServerGroup", "ServerGroupExcludingDb2")
DATABASES = ("db1", "db2", "db3")
EXCLUDED = "db2"
TABLES = ("Step1Table", "Step2Table")
DEFAULT_DATA_DIR = Path(".sqlfleet") / "demo"
# Inside the demo's folder: the host's data, and the SQLite "server" (examples/fleet.yaml's
# ${SQLFLEET_DEMO_DIR}/server1), kept apart because SQLite targets may never be in the former.
HOST_FOLDER = "host"
SQLITE_SERVER = "server1"
DEFAULT_DATABASE_PREFIX = "sqlfleet_demo"
CANCEL_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class DemoTarget:
    """One database of the demo: where it is and how to look into it."""

    engine: str
    server: str
    port: int | None
    database: str
    short: str  # db1, db2, db3: what the fleet file's exclusion names

    @property
    def label(self) -> str:
        where = Path(self.server).name if self.engine == "sqlite" else f"{self.server}:{self.port}"
        return f"{self.engine} {where}/{self.database}"


def register(nouns: Any, common: argparse.ArgumentParser) -> None:
    demo = nouns.add_parser(
        "demo",
        help="run the Elastic Jobs tutorial end to end on this machine",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    demo.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="default .sqlfleet/demo"
    )
    demo.add_argument("--no-postgres", action="store_true", help="SQLite targets only")
    demo.add_argument(
        "--postgres", default="127.0.0.1:5432", metavar="HOST:PORT", help="PostgreSQL server"
    )
    demo.add_argument(
        "--database-prefix",
        default=DEFAULT_DATABASE_PREFIX,
        help="PostgreSQL database names are PREFIX_db1..3 (default sqlfleet_demo)",
    )
    demo.add_argument(
        "--keep-running", action="store_true", help="leave the host serving until Ctrl-C"
    )
    demo.set_defaults(run=demo_command)


def demo_command(cli: Invocation) -> int:
    """Run the demo; 0 when the job succeeded and every table is where it should be."""
    args = cli.args
    output = cli.output
    began = time.monotonic()
    data_dir = args.data_dir.absolute()
    output.line("SQL Fleet demo: the Elastic Jobs tutorial, on this machine", style="bold")

    output.line("\n1. target databases", style="bold")
    server = data_dir / SQLITE_SERVER
    targets = make_sqlite_server(server)
    output.line(f"   sqlite server (folder) {server}: db1, db2, db3")
    postgres = None if args.no_postgres else _postgres_address(args.postgres)
    if postgres is not None:
        targets += make_postgres_databases(*postgres, args.database_prefix)
        output.line(f"   postgresql {args.postgres}: {args.database_prefix}_db1, _db2, _db3")
    elif args.no_postgres:
        output.line("   postgresql: skipped (--no-postgres)", style="dim")
    else:
        output.line(f"   postgresql: none (no server answers on {args.postgres})", style="dim")

    host = LocalHost(
        data_dir / HOST_FOLDER, environ={SQLITE_ROOTS: str(server)}, record=args.keep_running
    )
    output.line("\n2. local host", style="bold")
    try:
        url = host.start()
    except HostFailed as error:
        output.error(f"{error}; last lines of {host.log_path}:")
        output.errors.print(error.log_tail, markup=False, highlight=False)
        return EXIT_FAILED
    try:
        output.line(
            f"   {url} (task hub and job database in {host.data_dir}; SQLite targets only in "
            f"{server}; log {host.log_path})"
        )
        with ApiClient(url, host.function_key) as client:
            outcome = _run(cli, client, data_dir, targets, postgres)
        if args.keep_running and outcome == EXIT_OK:
            output.line(f"\nhost still serving at {url}; try: sqlfleet --url {url} executions")
            output.line("press Ctrl-C to stop it")
            _serve_until_interrupted()
    finally:
        host.stop()
    verdict = "succeeded" if outcome == EXIT_OK else "FAILED"
    output.line(f"\ndemo {verdict} in {time.monotonic() - began:.1f}s", style="bold")
    return outcome


def _run(
    cli: Invocation,
    client: ApiClient,
    data_dir: Path,
    targets: list[DemoTarget],
    postgres: tuple[str, int] | None,
) -> int:
    output = cli.output
    output.line(f"\n3. sqlfleet apply -f {_shown(FLEET_FILE)}", style="bold")
    environ = {
        **os.environ,
        "SQLFLEET_DEMO_DIR": str(data_dir),
        "SQLFLEET_DEMO_PASSWORD": os.environ.get("SQLFLEET_DEMO_PASSWORD")
        or secrets.token_urlsafe(16),
    }
    from sqlfleet.fleetfile import load_fleet

    fleet = load_fleet(_shown(FLEET_FILE), environ)
    if postgres is not None:
        fleet = _with_postgres(fleet, [t for t in targets if t.engine == "postgresql"])
        output.line("   (with the PostgreSQL databases added to both target groups)", style="dim")
    apply_fleet(client, fleet, output=output)

    _cancel_leftovers(client, output)
    output.line(f"\n4. sqlfleet start {JOB_NAME} --wait", style="bold")
    started = client.post(api_path("jobs", JOB_NAME, "start"))
    final = watch_execution(client, started["job_execution_id"], output)

    output.line("\n5. per-target results (sqlfleet get / receive)", style="bold")
    output.show(target_table(final))
    output.show(
        make_fields_table(
            [("job_execution_id", started["job_execution_id"])]
            + [(name, started.get(name)) for name in STATUS_URLS if started.get(name)],
            title="Durable Functions status-query URLs",
        )
    )

    output.line("\n6. check: which tables exist where", style="bold")
    rows, right = check_tables(targets)
    output.show(make_table(("database", *TABLES, "as expected"), rows))
    if final["lifecycle"] != "Succeeded":
        output.error(f"job {JOB_NAME} ended {final['lifecycle']}: {final.get('last_message')}")
        return EXIT_FAILED
    if not right:
        output.error("some tables are not where the tutorial puts them")
        return EXIT_FAILED
    return EXIT_OK


def make_sqlite_server(folder: Path) -> list[DemoTarget]:
    """A fresh folder of empty SQLite databases (an empty file is a valid, empty database)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db*"):
        stale.unlink()
    targets = []
    for name in DATABASES:
        (folder / f"{name}.db").touch()
        targets.append(DemoTarget("sqlite", str(folder), None, name, name))
    return targets


def make_postgres_databases(host: str, port: int, prefix: str) -> list[DemoTarget]:
    """Drop and create PREFIX_db1..3 on the PostgreSQL server (trust or PG* env auth)."""
    from psycopg import sql

    targets = []
    with closing(_postgres_connect(host, port, "postgres")) as admin:
        for name in DATABASES:
            database = f"{prefix}_{name}"
            identifier = sql.Identifier(database)
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(identifier))
            targets.append(DemoTarget("postgresql", host, port, database, name))
    return targets


def drop_postgres_databases(host: str, port: int, prefix: str) -> None:
    """Remove what ``make_postgres_databases`` made (tests call this)."""
    from psycopg import sql

    with closing(_postgres_connect(host, port, "postgres")) as admin:
        for name in DATABASES:
            identifier = sql.Identifier(f"{prefix}_{name}")
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))


def check_tables(targets: list[DemoTarget]) -> tuple[list[tuple[Any, ...]], bool]:
    """Rows of (database, has Step1Table, has Step2Table, as expected) and whether all are."""
    rows: list[tuple[Any, ...]] = []
    everything_right = True
    for target in targets:
        present = {name.lower() for name in _tables(target)}
        has = [table.lower() in present for table in TABLES]
        expected = [True, target.short != EXCLUDED]
        right = has == expected
        everything_right &= right
        rows.append((target.label, *("yes" if h else "no" for h in has), "yes" if right else "NO"))
    return rows, everything_right


def _tables(target: DemoTarget) -> list[str]:
    if target.engine == "sqlite":
        path = Path(target.server) / f"{target.database}.db"
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            return [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
    with closing(_postgres_connect(target.server, target.port or 5432, target.database)) as db:
        cursor = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return [row[0] for row in cursor.fetchall()]


def _postgres_connect(host: str, port: int, database: str) -> Any:
    import psycopg

    user = os.environ.get("SQLFLEET_DEMO_USER") or os.environ.get("PGUSER") or "postgres"
    return psycopg.connect(
        host=host, port=port, user=user, dbname=database, autocommit=True, connect_timeout=5
    )


def _postgres_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` when a PostgreSQL server we can sign in to answers there, else None."""
    host, _, port_text = text.rpartition(":")
    if not host or not port_text.isdigit():
        raise UsageError(f"--postgres {text!r}: expected HOST:PORT, e.g. 127.0.0.1:5432")
    try:
        with closing(_postgres_connect(host, int(port_text), "postgres")):
            return host, int(port_text)
    except Exception:  # noqa: BLE001 - any failure means "no PostgreSQL for the demo"
        return None


def _with_postgres(fleet: Fleet, databases: list[DemoTarget]) -> Fleet:
    from sqlfleet.models import MemberIn

    def member(target: DemoTarget, exclude: bool = False) -> MemberIn:
        return MemberIn(
            target_type="database",  # type: ignore[arg-type]
            engine="postgresql",  # type: ignore[arg-type]
            server_name=target.server,
            port=target.port,
            database_name=target.database,
            membership_type="exclude" if exclude else "include",  # type: ignore[arg-type]
        )

    everything = [member(t) for t in databases]
    excluded = [member(t, exclude=True) for t in databases if t.short == EXCLUDED]
    fleet = fleet.with_members(GROUPS[0], everything)
    return fleet.with_members(GROUPS[1], everything + excluded)


def _cancel_leftovers(client: ApiClient, output: Output) -> None:
    """Cancel executions of an earlier, interrupted demo: they would make targets Skipped."""
    page = client.get(api_path("executions"), job_name=JOB_NAME, active=True)
    leftovers = [execution["job_execution_id"] for execution in page["items"]]
    for execution_id in leftovers:
        output.line(f"   cancelling {execution_id}, left over from an earlier run", style="dim")
        client.post(api_path("executions", execution_id, "cancel"))
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    for execution_id in leftovers:
        while client.get(api_path("executions", execution_id))["is_active"]:
            if time.monotonic() > deadline:
                raise UsageError(f"execution {execution_id} did not stop; run the demo again")
            time.sleep(0.2)


def _serve_until_interrupted() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
