"""Engine dialects (sqlfleet.dialects): exact SQL texts, connection strings and the token struct.

No SQL Server runs here, so its texts are asserted character for character.
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
import uuid

import pytest

from sqlfleet.dialects import (
    SQL_COPT_SS_ACCESS_TOKEN,
    ColumnSpec,
    OutputTable,
    access_token_struct,
    dialect_for,
)
from sqlfleet.engine import Engine
from sqlfleet.errors import Unsupported, ValidationFailed

SQLSERVER = dialect_for("sqlserver")
POSTGRES = dialect_for("postgresql")
MYSQL = dialect_for("mysql")
SQLITE = dialect_for(Engine.SQLITE)

# As pyodbc's cursor.description reports them: name, type, display, size, precision, scale, null.
DESCRIPTION = [
    ("id", int, None, 10, 10, 0, True),
    ("name", str, None, 50, 50, 0, True),
    ("notes", str, None, 0, 0, 0, True),
    ("price", decimal.Decimal, None, 12, 12, 3, True),
    ("ratio", float, None, 53, 53, 0, True),
    ("seen", dt.datetime, None, 27, 27, 7, True),
    ("day", dt.date, None, 10, 10, 0, True),
    ("at", dt.time, None, 16, 16, 7, True),
    ("ok", bool, None, 1, 1, 0, True),
    ("blob", bytearray, None, 16, 16, 0, True),
    ("ref", uuid.UUID, None, 36, 36, 0, True),
    ("", int, None, 10, 10, 0, True),
    ("Name", str, None, 10, 10, 0, True),
    ("internal_execution_id", str, None, 36, 36, 0, True),
]
COLUMNS = [ColumnSpec.from_description(row) for row in DESCRIPTION]


def test_access_token_struct_byte_for_byte():
    assert access_token_struct("abc") == b"\x06\x00\x00\x00a\x00b\x00c\x00"
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2RhdGFiYXNlIn0.c2ln"
    value = access_token_struct(token)
    assert value[:4] == struct.pack("<I", 2 * len(token))
    assert value[4:] == token.encode("utf-16-le")
    assert len(value) == 4 + 2 * len(token)  # no terminator
    assert SQL_COPT_SS_ACCESS_TOKEN == 1256
    with pytest.raises(ValueError) as caught:
        access_token_struct("tökén")
    assert "tökén" not in str(caught.value)


def test_column_kinds_from_description():
    kinds = [c.kind for c in COLUMNS]
    assert kinds == [
        "integer", "text", "text", "decimal", "float", "datetime", "date", "time", "boolean",
        "binary", "uuid", "integer", "text", "text",
    ]  # fmt: skip
    assert COLUMNS[3] == ColumnSpec("price", "decimal", 12, 12, 3)
    assert COLUMNS[2].size is None  # nvarchar(max) reports 0


def test_output_column_names_are_made_unique():
    names = [c.name for c in SQLSERVER.output_columns(COLUMNS)]
    assert names[11:] == ["column12", "Name_2", "internal_execution_id_2"]
    long = [ColumnSpec("x" * 70, "integer"), ColumnSpec("x" * 70, "integer")]
    assert [c.name for c in POSTGRES.output_columns(long)] == ["x" * 63, "x" * 61 + "_2"]


@pytest.mark.parametrize(
    ("dialect", "name", "quoted"),
    [
        (SQLSERVER, "a]b", "[a]]b]"),
        (SQLSERVER, "x; DROP TABLE t--", "[x; DROP TABLE t--]"),
        (POSTGRES, 'a"b', '"a""b"'),
        (MYSQL, "a`b", "`a``b`"),
        (SQLITE, 'we"ird', '"we""ird"'),
    ],
)
def test_quote_identifier(dialect, name, quoted):
    assert dialect.quote_identifier(name) == quoted


@pytest.mark.parametrize("bad", ["", "a\x00b"])
def test_quote_identifier_refuses_empty_and_nul(bad):
    with pytest.raises(ValidationFailed):
        SQLSERVER.quote_identifier(bad)


def test_sqlserver_lists_user_databases_and_pool_members():
    server = SQLSERVER.list_databases_query()
    assert server.sql == (
        "SELECT name FROM sys.databases WHERE database_id > 4 AND state = 0 ORDER BY name"
    )
    assert server.params == ()
    pool = SQLSERVER.list_databases_query("pool'1")
    assert pool.sql == (
        "SELECT d.name FROM sys.databases AS d "
        "JOIN sys.database_service_objectives AS o ON o.database_id = d.database_id "
        "WHERE d.database_id > 4 AND d.state = 0 AND o.elastic_pool_name = ? "
        "ORDER BY d.name"
    )
    assert pool.params == ("pool'1",)
    assert SQLSERVER.listing_database == "master"


def test_other_engines_list_without_system_databases():
    assert POSTGRES.list_databases_query().sql == (
        "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
        "AND datname <> 'postgres' ORDER BY datname"
    )
    assert MYSQL.list_databases_query().sql == (
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN "
        "('information_schema', 'mysql', 'performance_schema', 'sys') ORDER BY schema_name"
    )
    for dialect in (POSTGRES, MYSQL):
        with pytest.raises(Unsupported):
            dialect.list_databases_query("pool1")


def test_sqlserver_output_table_ddl_and_insert():
    table = OutputTable("Results]", "dbo")
    (create,) = SQLSERVER.create_output_table(table, COLUMNS[:11])
    assert create.sql == (
        "IF OBJECT_ID(?, N'U') IS NULL\n"
        "BEGIN\n"
        "    CREATE TABLE [dbo].[Results]]] ([id] bigint NULL, [name] nvarchar(50) NULL, "
        "[notes] nvarchar(max) NULL, [price] decimal(12,3) NULL, [ratio] float NULL, "
        "[seen] datetime2(7) NULL, [day] date NULL, [at] time(7) NULL, [ok] bit NULL, "
        "[blob] varbinary(16) NULL, [ref] uniqueidentifier NULL, "
        "[internal_execution_id] uniqueidentifier NOT NULL);\n"
        "    CREATE NONCLUSTERED INDEX [IX_Results]]_Internal_Execution_ID] ON [dbo].[Results]]] "
        "([internal_execution_id]);\n"
        "END"
    )
    assert create.params == ("[dbo].[Results]]]",)
    assert SQLSERVER.insert_output(table, COLUMNS[:2]) == (
        "INSERT INTO [dbo].[Results]]] ([id], [name], [internal_execution_id]) VALUES (?, ?, ?)"
    )
    assert SQLSERVER.qualified(OutputTable("t")) == "[dbo].[t]"


def test_postgres_mysql_sqlite_output_ddl():
    table = OutputTable("results")
    columns = COLUMNS[:4] + COLUMNS[8:11]
    assert [q.sql for q in POSTGRES.create_output_table(table, columns)] == [
        'CREATE TABLE IF NOT EXISTS "public"."results" ("id" bigint NULL, "name" text NULL, '
        '"notes" text NULL, "price" numeric(12,3) NULL, "ok" boolean NULL, "blob" bytea NULL, '
        '"ref" uuid NULL, "internal_execution_id" uuid NOT NULL)',
        'CREATE INDEX IF NOT EXISTS "IX_results_Internal_Execution_ID" ON "public"."results" '
        '("internal_execution_id")',
    ]
    assert [q.sql for q in MYSQL.create_output_table(table, columns)] == [
        "CREATE TABLE IF NOT EXISTS `results` (`id` bigint NULL, `name` varchar(50) NULL, "
        "`notes` longtext NULL, `price` decimal(12,3) NULL, `ok` boolean NULL, "
        "`blob` longblob NULL, `ref` char(36) NULL, `internal_execution_id` char(36) NOT NULL, "
        "INDEX `IX_results_Internal_Execution_ID` (`internal_execution_id`))"
    ]
    assert [q.sql for q in SQLITE.create_output_table(OutputTable("r", "main"), columns)] == [
        'CREATE TABLE IF NOT EXISTS "main"."r" ("id" integer NULL, "name" text NULL, '
        '"notes" text NULL, "price" numeric NULL, "ok" boolean NULL, "blob" blob NULL, '
        '"ref" char(36) NULL, "internal_execution_id" char(36) NOT NULL)',
        'CREATE INDEX IF NOT EXISTS "main"."IX_r_Internal_Execution_ID" ON "r" '
        '("internal_execution_id")',
    ]


def test_decimal_types_without_known_precision():
    loose = ColumnSpec("d", "decimal")
    assert SQLSERVER.column_type(loose) == "decimal(38,10)"
    assert POSTGRES.column_type(loose) == "numeric"
    assert MYSQL.column_type(loose) == "decimal(65,30)"
    assert MYSQL.column_type(ColumnSpec("d", "decimal", precision=80, scale=2)) == "decimal(65,30)"


def test_sqlserver_connection_strings():
    text = SQLSERVER.connection_string(
        "srv.database.windows.net", 1433, "db;1", user="ad}min", password="p}w;x"
    )
    assert text.secret_text() == (
        "Driver={ODBC Driver 18 for SQL Server};Server=srv.database.windows.net,1433;"
        "Database={db;1};UID={ad}}min};PWD={p}}w;x};Encrypt=yes"
    )
    assert str(text) == (
        "Driver={ODBC Driver 18 for SQL Server};Server=srv.database.windows.net,1433;"
        "Database={db;1};UID={ad}}min};PWD=***;Encrypt=yes"
    )
    assert "p}}w" not in repr(text)
    listing = SQLSERVER.connection_string(
        "srv", None, None, access_token=True, user="u", password="p"
    )
    assert listing.secret_text() == (
        "Driver={ODBC Driver 18 for SQL Server};Server=srv;Database=master;Encrypt=yes"
    )


def test_postgresql_has_no_odbc_connection_string():
    # sqlfleet.postgres connects with psycopg (libpq), which takes every value as it is.
    with pytest.raises(Unsupported) as refused:
        POSTGRES.connection_string("127.0.0.1", 5432, "db1", user="postgres", password="p")
    assert "ODBC connections to PostgreSQL targets" in refused.value.message


def test_postgresql_output_rows_use_server_side_placeholders():
    table = OutputTable("out %s ? $1", "s")
    assert POSTGRES.insert_output(table, COLUMNS[:2]) == (
        'INSERT INTO "s"."out %s ? $1" ("id", "name", "internal_execution_id") VALUES ($1, $2, $3)'
    )


def test_mysql_and_sqlite_connection_strings():
    assert MYSQL.connection_string(
        "127.0.0.1", 3306, None, user="root", password=""
    ).secret_text() == (
        "Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;UID=root;PWD={};OPTION=67108864;"
        "NOLOCALINFILE=1;USE_MYCNF=1"
    )
    with pytest.raises(ValidationFailed) as caught:
        MYSQL.connection_string("h", None, "d", user="u", password="secret ")
    assert caught.value.field == "password"
    assert "secret" not in caught.value.message.replace("password", "")
    with pytest.raises(Unsupported) as refused:  # sqlfleet.sqlitefiles opens them, not ODBC
        SQLITE.connection_string("/data/fleet", None, "db1")
    assert "ODBC connections to SQLite files" in refused.value.message
    assert SQLITE.database_path("/data/fleet/", "db1.db") == "/data/fleet/db1.db"


def test_connection_strings_bound_the_drivers_waits():
    # MariaDB Connector/ODBC 3.1 ignores the login timeout attribute: the string says it.
    assert MYSQL.connection_string("h", 3306, "d", user="u", waits=(7, 65)).secret_text() == (
        "Driver={MariaDB Unicode};Server=h;Port=3306;Database=d;UID=u;OPTION=67108864;"
        "NOLOCALINFILE=1;USE_MYCNF=1;CONN_TIMEOUT=7;READ_TIMEOUT=65;WRITE_TIMEOUT=65"
    )
    # ODBC Driver 18 takes both as connection attributes (sqlfleet.odbc sets them).
    plain = SQLSERVER.connection_string("h", None, "d")
    assert SQLSERVER.connection_string("h", None, "d", waits=(7, 65)).secret_text() == (
        plain.secret_text()
    )


def test_unknown_engine_names_the_known_ones():
    with pytest.raises(ValidationFailed) as caught:
        dialect_for("oracle")
    assert "sqlserver, postgresql, mysql, sqlite" in caught.value.message


def odbc_pairs(text: str) -> list[tuple[str, str]]:
    """``text`` split as the ODBC grammar says (what the driver manager and drivers do):
    ``key=value`` pairs separated by ';', a value in braces runs to the matching '}', and '}}'
    inside braces is one '}'."""
    pairs, position = [], 0
    while position < len(text):
        equals = text.index("=", position)
        key, position = text[position:equals], equals + 1
        if text.startswith("{", position):
            value, position = "", position + 1
            while True:
                close = text.index("}", position)
                value += text[position:close]
                if text.startswith("}}", close):
                    value, position = value + "}", close + 2
                    continue
                position = close + 1
                break
        else:
            end = text.find(";", position)
            end = len(text) if end < 0 else end
            value, position = text[position:end], end
        pairs.append((key, value))
        assert position == len(text) or text[position] == ";", text
        position += 1
    return pairs


# Values that would add keywords if they were not quoted: a second driver, a data source (the
# driver manager reads odbc.ini), files the drivers would read or write, SQL run at connect.
SMUGGLING = [
    "x;Driver={evil}",
    "x};DSN=evil;{",
    "x;SaveFile=/tmp/evil.dsn",
    "x;ServerCertificate=/etc/shadow",
    "x;INITSTMT=SET @a=1",
    "x;PLUGIN_DIR=/tmp;SSLKEY=/etc/ssl/private/k.pem",
    "{x}}",
]


@pytest.mark.parametrize("dialect", [SQLSERVER, MYSQL], ids=["sqlserver", "mysql"])
@pytest.mark.parametrize("hostile", SMUGGLING)
def test_no_value_adds_a_keyword_to_the_connection_string(dialect, hostile):
    text = dialect.connection_string(
        hostile, 1433, hostile, user=hostile, password=hostile
    ).secret_text()
    pairs = odbc_pairs(text)
    keys = [key for key, _ in pairs]
    location = ["Server", "Database"] if dialect is SQLSERVER else ["Server", "Port", "Database"]
    extra = [key for key, _ in dialect.extra_options]
    assert keys == ["Driver", *location, "UID", "PWD", *extra]
    values = dict(pairs)
    server = f"{hostile},1433" if dialect is SQLSERVER else hostile
    assert (values["Server"], values["Database"]) == (server, hostile)
    assert (values["UID"], values["PWD"]) == (hostile, hostile)


def test_the_exact_sqlserver_string_for_hostile_names():
    """ODBC Driver 18 is not installed here: this is the text it would get."""
    text = SQLSERVER.connection_string(
        "evil.example;ServerCertificate=/etc/shadow", None, "db};Authentication={x",
        user="u", password="p",
    ).secret_text()  # fmt: skip
    assert text == (
        "Driver={ODBC Driver 18 for SQL Server};"
        "Server={evil.example;ServerCertificate=/etc/shadow};"
        "Database={db}};Authentication={x};UID=u;PWD={p};Encrypt=yes"
    )
    assert [key for key, _ in odbc_pairs(text)] == [
        "Driver", "Server", "Database", "UID", "PWD", "Encrypt",
    ]  # fmt: skip
