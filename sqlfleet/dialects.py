"""Engine dialects: every SQL text and ODBC detail that differs between target engines (no I/O).

One class per engine (``sqlserver``, ``postgresql``, ``mysql``, ``sqlite``) knows its ODBC
connection string (sqlserver and mysql; PostgreSQL and SQLite are not reached through ODBC),
identifier quoting, how a server lists its databases, how a script splits into what the driver
can execute, and the DDL/DML of a step's output table. ``sqlfleet.odbc`` runs it, with
``sqlfleet.postgres`` and ``sqlfleet.sqlitefiles``; script text itself is ``sqlfleet.scripts``.
Identifiers are always quoted here; user values travel as bind parameters, never inside SQL text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import struct
import uuid
from collections.abc import Sequence
from enum import Enum
from typing import Any, ClassVar, NamedTuple

from sqlfleet.errors import Unsupported, ValidationFailed
from sqlfleet.scripts import split_batches, split_sqlite_statements

SQL_COPT_SS_ACCESS_TOKEN = 1256
INTERNAL_EXECUTION_ID = "internal_execution_id"


def access_token_struct(token: str) -> bytes:
    """The ``ACCESSTOKEN`` value for ``SQL_COPT_SS_ACCESS_TOKEN`` (msodbcsql.h).

    A 4-byte little-endian length, then the token with a zero byte after each byte (UTF-16-LE
    of the ASCII token), no terminator; the length counts the expanded bytes. Raises
    ``ValueError`` for a token that is not ASCII (a JWT always is), without echoing it.
    """
    try:
        data = token.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("the access token is not ASCII text; expected a JWT") from None
    expanded = bytes(byte for char in data for byte in (char, 0))
    return struct.pack("<I", len(expanded)) + expanded


class Query(NamedTuple):
    """SQL text with its bind parameters."""

    sql: str
    params: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True)
class OutputTable:
    """Where a step's first result set goes; ``schema`` None means the engine's default."""

    table: str
    schema: str | None = None


_KINDS: dict[type, str] = {
    bool: "boolean", int: "integer", float: "float", decimal.Decimal: "decimal", str: "text",
    bytes: "binary", bytearray: "binary", dt.datetime: "datetime", dt.date: "date",
    dt.time: "time", uuid.UUID: "uuid",
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """A result-set column, engine-neutral and JSON-friendly (``dataclasses.asdict``).

    ``kind``: boolean, integer, float, decimal, text, binary, datetime, date, time or uuid.
    """

    name: str
    kind: str
    size: int | None = None
    precision: int | None = None
    scale: int | None = None

    @classmethod
    def from_description(cls, row: Sequence[Any]) -> ColumnSpec:
        """From one ``cursor.description`` row (pyodbc reports Python types as type codes)."""
        name, type_code, _display, size, precision, scale = tuple(row[:6])
        kind = _KINDS.get(type_code, "text")
        return cls(str(name or ""), kind, _positive(size), _positive(precision), scale or 0)


def _positive(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


class ConnectionString:
    """An ODBC connection string; ``str``/``repr`` mask the password, ``secret_text`` does not."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Sequence[tuple[str, str, bool]]) -> None:
        self._pairs = tuple(pairs)  # (keyword, escaped value, is secret)

    def secret_text(self) -> str:
        """The full text for the driver manager; never log it."""
        return ";".join(f"{key}={value}" for key, value, _ in self._pairs)

    def __str__(self) -> str:
        return ";".join(f"{key}={'***' if secret else value}" for key, value, secret in self._pairs)

    def __repr__(self) -> str:
        return f"ConnectionString({str(self)!r})"


class Dialect:
    """What differs between engines. Subclasses set the class attributes."""

    engine: ClassVar[str]
    default_driver: ClassVar[str]
    default_port: ClassVar[int | None]
    default_schema: ClassVar[str | None] = None
    listing_database: ClassVar[str | None] = None
    max_identifier_length: ClassVar[int] = 128
    quotes: ClassVar[tuple[str, str]] = ('"', '"')
    trims_values: ClassVar[bool] = False
    takes_access_tokens: ClassVar[bool] = False
    extra_options: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Engines reached without ODBC: (what is not supported, where they are reached instead).
    not_through_odbc: ClassVar[tuple[str, str] | None] = None
    types: ClassVar[dict[str, str]]
    internal_execution_id_type: ClassVar[str]

    def quote_identifier(self, name: str) -> str:
        """``name`` as a quoted identifier; raises ``ValidationFailed`` if empty or with NUL."""
        if not name or "\x00" in name:
            raise ValidationFailed("identifier", f"{name!r} cannot be an identifier")
        opening, closing = self.quotes
        return opening + name.replace(closing, closing * 2) + closing

    def qualified(self, table: OutputTable) -> str:
        schema = table.schema or self.default_schema
        name = self.quote_identifier(table.table)
        return f"{self.quote_identifier(schema)}.{name}" if schema else name

    def connection_string(
        self,
        server: str,
        port: int | None,
        database: str | None,
        *,
        driver: str | None = None,
        user: str | None = None,
        password: str | None = None,
        access_token: bool = False,
        waits: tuple[int, int] | None = None,
    ) -> ConnectionString:
        """The connection string for a database (or the server's listing database if None).

        With ``access_token`` the sign-in travels in ``attrs_before``, so no UID/PWD is written.
        ``waits`` (connect seconds, read seconds) adds the driver's own bounds on its waits
        (``wait_options``).
        Raises ``ValidationFailed`` for a value this engine's driver cannot carry, and
        ``Unsupported`` for tokens on engines other than sqlserver.
        """
        if self.not_through_odbc is not None:
            raise Unsupported(self.not_through_odbc[0], hint=self.not_through_odbc[1])
        if access_token and not self.takes_access_tokens:
            raise Unsupported(
                f"Microsoft Entra token sign-in for {self.engine} targets",
                hint="use a password or keyVault credential for this engine",
            )
        if access_token:
            # The token replaces UID/PWD; the driver rejects a string that has both.
            user = password = None
        pairs = [("Driver", "{" + (driver or self.default_driver) + "}", False)]
        location = self._location(server, port, database)
        pairs += [(key, self._escape(key, value), False) for key, value in location]
        if user is not None:
            pairs.append(("UID", self._escape("UID", user), False))
        if password is not None:
            pairs.append(("PWD", self._escape("PWD", password, always=True), True))
        pairs += [(key, value, False) for key, value in self.extra_options]
        if waits is not None:
            pairs += [(key, value, False) for key, value in self.wait_options(*waits)]
        return ConnectionString(pairs)

    def wait_options(self, connect_seconds: int, read_seconds: int) -> list[tuple[str, str]]:
        """Connection-string options that bound the driver's waits: connecting and signing in
        within ``connect_seconds``, each read or write within ``read_seconds``. Drivers that
        take a login timeout as a connection attribute (pyodbc's ``timeout``) need none."""
        return []

    def _location(
        self, server: str, port: int | None, database: str | None
    ) -> list[tuple[str, str]]:
        pairs = [("Server", server)]
        if port:
            pairs.append(("Port", str(int(port))))
        database = database or self.listing_database
        if database:
            pairs.append(("Database", database))
        return pairs

    def _escape(self, key: str, value: str, *, always: bool = False) -> str:
        field = {"UID": "user", "PWD": "password"}.get(key, key.lower())
        if "\x00" in value:
            raise ValidationFailed(field, "contains a NUL character")
        if self.trims_values and value != value.strip():
            raise ValidationFailed(
                field,
                f"the {self.default_driver} ODBC driver strips leading and trailing spaces, so a "
                f"{field} that starts or ends with a space cannot be used with {self.engine}",
            )
        special = any(char in value for char in ";{}") or value != value.strip() or not value
        if always or special:
            return "{" + value.replace("}", "}}") + "}"
        return value

    def list_databases_query(self, pool: str | None = None) -> Query:
        """The query (run on ``listing_database``) that names the member's databases."""
        raise NotImplementedError

    def statements(self, script: str) -> list[str]:
        """The pieces the driver executes one call each (these drivers take multi-statements)."""
        return [script] if script.strip() else []

    def column_type(self, column: ColumnSpec) -> str:
        return self.types[column.kind]

    def output_columns(self, columns: Sequence[ColumnSpec]) -> list[ColumnSpec]:
        """Columns renamed so a table can hold them: no blank, duplicate or reserved names.

        Blank names become ``column<n>``; names are compared case-insensitively and cut to the
        engine's identifier length; a clash gets ``_<k>`` appended.
        """
        taken = {INTERNAL_EXECUTION_ID}
        renamed = []
        for position, column in enumerate(columns, start=1):
            base = (column.name.strip() or f"column{position}")[: self.max_identifier_length]
            name, k = base, 1
            while name.lower() in taken:
                k += 1
                suffix = f"_{k}"
                name = base[: self.max_identifier_length - len(suffix)] + suffix
            taken.add(name.lower())
            renamed.append(dataclasses.replace(column, name=name))
        return renamed

    def index_name(self, table: OutputTable) -> str:
        return f"IX_{table.table}_Internal_Execution_ID"[: self.max_identifier_length]

    def _column_definitions(self, columns: Sequence[ColumnSpec]) -> str:
        defined = [
            f"{self.quote_identifier(c.name)} {self.column_type(c)} NULL"
            for c in self.output_columns(columns)
        ]
        marker = self.quote_identifier(INTERNAL_EXECUTION_ID)
        defined.append(f"{marker} {self.internal_execution_id_type} NOT NULL")
        return ", ".join(defined)

    def create_output_table(self, table: OutputTable, columns: Sequence[ColumnSpec]) -> list[Query]:
        """Statements that create the output table and its index when missing (idempotent)."""
        name = self.qualified(table)
        return [
            Query(f"CREATE TABLE IF NOT EXISTS {name} ({self._column_definitions(columns)})"),
            Query(
                f"CREATE INDEX IF NOT EXISTS {self.quote_identifier(self.index_name(table))} "
                f"ON {name} ({self.quote_identifier(INTERNAL_EXECUTION_ID)})"
            ),
        ]

    def insert_output(self, table: OutputTable, columns: Sequence[ColumnSpec]) -> str:
        """The parametrized INSERT of one row: the columns, then ``internal_execution_id``."""
        names = [c.name for c in self.output_columns(columns)] + [INTERNAL_EXECUTION_ID]
        quoted = ", ".join(self.quote_identifier(n) for n in names)
        marks = ", ".join("?" for _ in names)
        return f"INSERT INTO {self.qualified(table)} ({quoted}) VALUES ({marks})"


class SqlServerDialect(Dialect):
    """SQL Server and Azure SQL Database (ODBC Driver 18 for SQL Server)."""

    engine = "sqlserver"
    default_driver = "ODBC Driver 18 for SQL Server"
    default_port = 1433
    default_schema = "dbo"
    listing_database = "master"
    quotes = ("[", "]")
    extra_options = (("Encrypt", "yes"),)
    takes_access_tokens = True
    internal_execution_id_type = "uniqueidentifier"
    types = {
        "boolean": "bit", "integer": "bigint", "float": "float", "datetime": "datetime2(7)",
        "date": "date", "time": "time(7)", "uuid": "uniqueidentifier",
    }  # fmt: skip

    def _location(
        self, server: str, port: int | None, database: str | None
    ) -> list[tuple[str, str]]:
        address = f"{server},{int(port)}" if port else server
        return [("Server", address), ("Database", database or self.listing_database or "")]

    def list_databases_query(self, pool: str | None = None) -> Query:
        # database_id 1-4 are master, tempdb, model, msdb; state 0 is ONLINE.
        if pool is None:
            return Query(
                "SELECT name FROM sys.databases WHERE database_id > 4 AND state = 0 ORDER BY name"
            )
        return Query(
            "SELECT d.name FROM sys.databases AS d "
            "JOIN sys.database_service_objectives AS o ON o.database_id = d.database_id "
            "WHERE d.database_id > 4 AND d.state = 0 AND o.elastic_pool_name = ? "
            "ORDER BY d.name",
            (pool,),
        )

    def statements(self, script: str) -> list[str]:
        return split_batches(script)

    def column_type(self, column: ColumnSpec) -> str:
        if column.kind == "text":
            size = column.size
            return f"nvarchar({size})" if size and size <= 4000 else "nvarchar(max)"
        if column.kind == "binary":
            size = column.size
            return f"varbinary({size})" if size and size <= 8000 else "varbinary(max)"
        if column.kind == "decimal":
            return _decimal_type("decimal", column, 38, "decimal(38,10)")
        return super().column_type(column)

    def create_output_table(self, table: OutputTable, columns: Sequence[ColumnSpec]) -> list[Query]:
        name = self.qualified(table)
        index = self.quote_identifier(self.index_name(table))
        column = self.quote_identifier(INTERNAL_EXECUTION_ID)
        # The table name reaches OBJECT_ID as a bound value, never as literal text.
        return [
            Query(
                "IF OBJECT_ID(?, N'U') IS NULL\n"
                "BEGIN\n"
                f"    CREATE TABLE {name} ({self._column_definitions(columns)});\n"
                f"    CREATE NONCLUSTERED INDEX {index} ON {name} ({column});\n"
                "END",
                (name,),
            )
        ]


class PostgresDialect(Dialect):
    """PostgreSQL, through psycopg 3 (libpq), never ODBC: ``sqlfleet.postgres`` says why, and
    connects (libpq takes every value as is, so this dialect has no connection string)."""

    engine = "postgresql"
    default_driver = "psycopg"
    default_port = 5432
    default_schema = "public"
    listing_database = "postgres"
    max_identifier_length = 63
    internal_execution_id_type = "uuid"
    types = {
        "boolean": "boolean", "integer": "bigint", "float": "double precision", "text": "text",
        "binary": "bytea", "datetime": "timestamp(6)", "date": "date", "time": "time(6)",
        "uuid": "uuid",
    }  # fmt: skip

    not_through_odbc = (
        "ODBC connections to PostgreSQL targets",
        "sqlfleet.postgres connects with psycopg (libpq)",
    )

    def list_databases_query(self, pool: str | None = None) -> Query:
        _no_pools(self.engine, pool)
        # 'postgres' is the maintenance database every cluster has, as master is for SQL Server.
        return Query(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
            "AND datname <> 'postgres' ORDER BY datname"
        )

    def column_type(self, column: ColumnSpec) -> str:
        if column.kind == "decimal":
            return _decimal_type("numeric", column, 1000, "numeric")
        return super().column_type(column)

    def insert_output(self, table: OutputTable, columns: Sequence[ColumnSpec]) -> str:
        # PostgreSQL's own placeholders ($1, $2...; psycopg's RawCursor): a '%' or '?' in a
        # quoted name stays part of the name.
        text = super().insert_output(table, columns)
        head, values = text.rsplit(" VALUES (", 1)
        marks = ", ".join(f"${n}" for n in range(1, values.count("?") + 1))
        return f"{head} VALUES ({marks})"


class MySqlDialect(Dialect):
    """MySQL and MariaDB through MariaDB Connector/ODBC (multi-statements switched on).

    ``LOAD DATA LOCAL INFILE`` (the server asks the client for a file of the host, and gets it)
    is always off. ``NOLOCALINFILE=1`` says so to Connector/ODBC 3.1.16 and later. Older ones
    (Debian 12 ships 3.1.15) ignore that keyword and leave the capability on, so the string
    also says ``USE_MYCNF=1``: Connector/C then reads option files, among them SQL Fleet's own
    ``sqlfleet/mariadb/my.cnf`` (``local-infile=0``), which ``sqlfleet.odbc`` points
    ``MARIADB_HOME`` at. Without the capability the client never sends a file, whatever the
    statement or the server asks.
    """

    engine = "mysql"
    default_driver = "MariaDB Unicode"
    default_port = 3306
    max_identifier_length = 64
    quotes = ("`", "`")
    trims_values = True
    # OPTION: CLIENT_MULTI_STATEMENTS (1 << 26), the same bit in MySQL's and MariaDB's drivers.
    extra_options = (("OPTION", "67108864"), ("NOLOCALINFILE", "1"), ("USE_MYCNF", "1"))

    def wait_options(self, connect_seconds: int, read_seconds: int) -> list[tuple[str, str]]:
        # Connector/ODBC 3.1 ignores the login timeout attribute, and without CONN_TIMEOUT a
        # server that accepts TCP but never sends its handshake holds the connect forever.
        # CONN_TIMEOUT bounds the TCP connect and the handshake; READ_/WRITE_TIMEOUT each
        # network wait afterwards (Connector/C may retry a read, so up to a few times that).
        return [
            ("CONN_TIMEOUT", str(connect_seconds)),
            ("READ_TIMEOUT", str(read_seconds)),
            ("WRITE_TIMEOUT", str(read_seconds)),
        ]

    internal_execution_id_type = "char(36)"
    types = {
        "boolean": "boolean", "integer": "bigint", "float": "double", "binary": "longblob",
        "datetime": "datetime(6)", "date": "date", "time": "time(6)", "uuid": "char(36)",
    }  # fmt: skip

    def list_databases_query(self, pool: str | None = None) -> Query:
        _no_pools(self.engine, pool)
        return Query(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN "
            "('information_schema', 'mysql', 'performance_schema', 'sys') ORDER BY schema_name"
        )

    def column_type(self, column: ColumnSpec) -> str:
        if column.kind == "text":
            # Long varchars eat the 65,535-byte row limit; text types live off-row.
            return f"varchar({column.size})" if column.size and column.size <= 255 else "longtext"
        if column.kind == "decimal":
            return _decimal_type("decimal", column, 65, "decimal(65,30)")
        return super().column_type(column)

    def create_output_table(self, table: OutputTable, columns: Sequence[ColumnSpec]) -> list[Query]:
        index = self.quote_identifier(self.index_name(table))
        column = self.quote_identifier(INTERNAL_EXECUTION_ID)
        return [
            Query(
                f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} "
                f"({self._column_definitions(columns)}, INDEX {index} ({column}))"
            )
        ]


class SqliteDialect(Dialect):
    """SQLite files of the host; a "server" is a folder of ``*.db`` files.

    They are opened with Python's ``sqlite3``, never through ODBC (``sqlfleet.sqlitefiles``
    says why), so this dialect has no connection string.
    """

    engine = "sqlite"
    default_driver = "sqlite3"
    default_port = None
    database_suffix = ".db"
    internal_execution_id_type = "char(36)"
    types = {
        "boolean": "boolean", "integer": "integer", "float": "real", "decimal": "numeric",
        "text": "text", "binary": "blob", "datetime": "timestamp", "date": "date",
        "time": "time", "uuid": "char(36)",
    }  # fmt: skip

    def database_path(self, folder: str, database: str) -> str:
        """The file of ``database`` in ``folder``: ``db1`` and ``db1.db`` both mean ``db1.db``."""
        name = (
            database if database.endswith(self.database_suffix) else database + self.database_suffix
        )
        return folder.rstrip("/") + "/" + name

    def database_name(self, file_name: str) -> str:
        return file_name[: -len(self.database_suffix)]

    not_through_odbc = (
        "ODBC connections to SQLite files",
        "sqlfleet.sqlitefiles opens them with Python's sqlite3, held to the file",
    )

    def list_databases_query(self, pool: str | None = None) -> Query:
        raise Unsupported(
            "listing sqlite databases with SQL", hint="scan the folder for *.db files"
        )

    def statements(self, script: str) -> list[str]:
        return split_sqlite_statements(script)

    def create_output_table(self, table: OutputTable, columns: Sequence[ColumnSpec]) -> list[Query]:
        # SQLite puts the schema on the index name and forbids it on the indexed table.
        schema = f"{self.quote_identifier(table.schema)}." if table.schema else ""
        index = schema + self.quote_identifier(self.index_name(table))
        marker = self.quote_identifier(INTERNAL_EXECUTION_ID)
        definitions = self._column_definitions(columns)
        return [
            Query(f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} ({definitions})"),
            Query(
                f"CREATE INDEX IF NOT EXISTS {index} "
                f"ON {self.quote_identifier(table.table)} ({marker})"
            ),
        ]


def _decimal_type(name: str, column: ColumnSpec, max_precision: int, unknown: str) -> str:
    precision, scale = column.precision, column.scale or 0
    if not precision or precision > max_precision:
        return unknown
    return f"{name}({precision},{min(scale, precision)})"


def _no_pools(engine: str, pool: str | None) -> None:
    if pool is not None:
        raise Unsupported(
            f"elastic pool members for {engine} servers",
            field="elastic_pool_name",
            hint="elastic pools exist only on Azure SQL (engine sqlserver); add a server member",
        )


DIALECTS: dict[str, Dialect] = {
    d.engine: d for d in (SqlServerDialect(), PostgresDialect(), MySqlDialect(), SqliteDialect())
}
ENGINES = tuple(DIALECTS)


def dialect_for(engine: str | Enum) -> Dialect:
    """The dialect of ``engine``; raises ``ValidationFailed`` naming the known engines."""
    try:
        return DIALECTS[engine.value if isinstance(engine, Enum) else engine]
    except KeyError:
        raise ValidationFailed(
            "engine", f"'{engine}' is not an engine; use one of {', '.join(ENGINES)}"
        ) from None
