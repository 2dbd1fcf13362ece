"""Private PostgreSQL clusters that check passwords, for the fault suite.

``start_private_postgres`` makes a trust-auth cluster; here TCP logins must prove their password
(SCRAM), so a wrong password really is refused, while the suite itself administers the cluster
over its Unix socket (still trust). The cluster may be stopped and started to fake outages.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.support.servers import PrivatePostgres, start_private_postgres

_HBA = """\
# Written by tests/reliability: the suite administers over the socket, SQL Fleet signs in over TCP.
local all all trust
host all all 127.0.0.1/32 scram-sha-256
"""


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@dataclass
class PasswordCluster:
    server: PrivatePostgres
    databases: list[str] = field(default_factory=list)

    @classmethod
    def create(cls) -> PasswordCluster:
        """initdb, password checks on TCP, started. Raises ``RuntimeError`` without initdb."""
        server = start_private_postgres()
        hba = server.data_dir / "pg_hba.conf"
        hba.write_text(_HBA)
        shutil.chown(hba, *_owner(server.data_dir))
        server.stop()
        server.start()
        return cls(server)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def socket_dir(self) -> Path:
        return self.server.data_dir.parent

    @property
    def log_path(self) -> Path:
        return self.server.data_dir.parent / "postgres.log"

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    def stop(self) -> None:
        self.server.stop("fast")

    def start(self) -> None:
        self.server.start()

    def destroy(self) -> None:
        self.server.destroy()

    @contextmanager
    def admin(self, dbname: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=self.server.user,
            dbname=dbname,
            autocommit=True,
        ) as connection:
            yield connection

    def rows(self, dbname: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.admin(dbname) as connection:
            return [tuple(row) for row in connection.execute(query, params).fetchall()]

    def execute(self, dbname: str, statement: sql.Composable | str) -> None:
        with self.admin(dbname) as connection:
            connection.execute(statement)

    def create_role(self, role: str, password: str) -> None:
        self.execute(
            "postgres",
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            ),
        )

    def create_database(self, name: str, owner: str) -> str:
        self.execute(
            "postgres",
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            ),
        )
        self.databases.append(name)
        return name

    def running(self, marker: str) -> list[tuple[Any, ...]]:
        """Backends whose current statement contains ``marker`` (not this query's own)."""
        return self.rows(
            "postgres",
            "SELECT pid, datname, state, query FROM pg_stat_activity "
            "WHERE query LIKE %s AND pid <> pg_backend_pid()",
            f"%{marker}%",
        )

    def log_count(self, pattern: str) -> int:
        """Lines of the server log that match ``pattern`` (a regular expression)."""
        if not self.log_path.exists():
            return 0
        text = self.log_path.read_text(errors="replace")
        return len(re.findall(pattern, text))

    def member(self, dbname: str) -> dict[str, Any]:
        """A target group member for one database, reached over TCP (password checked)."""
        return {
            "target_type": "database",
            "engine": "postgresql",
            "server_name": "127.0.0.1",
            "port": self.port,
            "database_name": dbname,
        }


def _owner(path: Path) -> tuple[str, str]:
    return path.owner(), path.group()
