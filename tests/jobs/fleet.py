"""Real target servers for the job execution suite: databases created per test, a login with the
session's secret password, and the documents that point SQL Fleet at them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pyodbc
from psycopg import sql

from tests.support.servers import ServerAddress

# The password of every login the suite creates; the secrets scan looks for it everywhere.
SECRET = f"Fleet-Pw-{uuid.uuid4().hex}"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@dataclass
class PostgresFleet:
    """A PostgreSQL server with a login role ``role`` (password ``SECRET``) that owns the
    databases ``create_database`` makes; ``drop_all`` removes them."""

    address: ServerAddress
    role: str
    databases: list[str] = field(default_factory=list)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.address.host,
            port=self.address.port,
            user=self.address.user,
            dbname=dbname,
            autocommit=True,
        )

    def create_role(self) -> None:
        with self.admin() as connection:
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(self.role), sql.Literal(SECRET)
                )
            )

    def drop_role(self) -> None:
        with self.admin() as connection:
            connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.role)))

    def create_database(self, name: str) -> str:
        with self.admin() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(self.role)
                )
            )
        self.databases.append(name)
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if name in self.databases:
            self.databases.remove(name)

    def drop_all(self) -> None:
        for name in list(self.databases):
            self.drop_database(name)

    def rows(self, dbname: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.admin(dbname) as connection:
            return [tuple(row) for row in connection.execute(query, params).fetchall()]

    def tables(self, dbname: str) -> set[str]:
        return {
            name
            for (name,) in self.rows(
                dbname,
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
            )
        }

    def running(self, marker: str) -> list[tuple[Any, ...]]:
        """Backends of this server whose current query contains ``marker``."""
        return self.rows(
            "postgres",
            "SELECT pid, datname, state, query FROM pg_stat_activity "
            "WHERE query LIKE %s AND pid <> pg_backend_pid()",
            f"%{marker}%",
        )

    def database_member(self, dbname: str, **fields: Any) -> dict[str, Any]:
        return {
            "target_type": "database",
            "engine": "postgresql",
            "server_name": self.address.host,
            "port": self.address.port,
            "database_name": dbname,
            **fields,
        }

    def server_member(self, refresh_credential: str) -> dict[str, Any]:
        return {
            "target_type": "server",
            "engine": "postgresql",
            "server_name": self.address.host,
            "port": self.address.port,
            "refresh_credential_name": refresh_credential,
        }


@dataclass
class MariaDbFleet:
    """A MariaDB server with a login ``user`` (password ``SECRET``) granted the databases that
    ``create_database`` makes."""

    address: ServerAddress
    user: str
    databases: list[str] = field(default_factory=list)

    def admin(self) -> pyodbc.Connection:
        text = (
            f"Driver={{MariaDB Unicode}};Server={self.address.host};Port={self.address.port};"
            f"UID={self.address.user};PWD={{{self.address.password}}}"
        )
        return pyodbc.connect(text, autocommit=True)

    def execute(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        connection = self.admin()
        try:
            cursor = connection.cursor().execute(statement, *params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        finally:
            connection.close()

    def create_user(self) -> None:
        # CREATE USER takes no parameters; SECRET is letters, digits and '-' only.
        assert SECRET.replace("-", "").isalnum()
        self.execute(f"CREATE USER `{self.user}`@'%' IDENTIFIED BY '{SECRET}'")

    def drop_user(self) -> None:
        self.execute(f"DROP USER IF EXISTS `{self.user}`@'%'")

    def create_database(self, name: str) -> str:
        self.execute(f"CREATE DATABASE `{name}`")
        self.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO `{self.user}`@'%'")
        self.databases.append(name)
        return name

    def drop_all(self) -> None:
        for name in list(self.databases):
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")
            self.databases.remove(name)

    def tables(self, dbname: str) -> set[str]:
        return {
            row[0]
            for row in self.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", dbname
            )
        }

    def database_member(self, dbname: str) -> dict[str, Any]:
        return {
            "target_type": "database",
            "engine": "mysql",
            "server_name": self.address.host,
            "port": self.address.port,
            "database_name": dbname,
        }


def sqlite_folder_member(folder: Path) -> dict[str, Any]:
    return {"target_type": "server", "engine": "sqlite", "server_name": str(folder)}


def step(name: str, command: str, group: str, **fields: Any) -> dict[str, Any]:
    """A step with small retry intervals unless the test says otherwise."""
    document = {
        "step_name": name,
        "command": command,
        "target_group_name": group,
        "retry_attempts": 0,
        "initial_retry_interval_seconds": 1,
        "maximum_retry_interval_seconds": 1,
        "step_timeout_seconds": 60,
    }
    document.update(fields)
    return document
