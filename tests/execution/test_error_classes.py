"""The error classifier (sqlfleet.errorclasses): SQL Server by its error numbers, which no test
server here can raise, and the rules every engine shares."""

from __future__ import annotations

import pytest

from sqlfleet.errorclasses import PERMANENT, TRANSIENT, UNKNOWN, classify
from sqlfleet.outcomes import error_number


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        (18456, PERMANENT),  # login failed
        (229, PERMANENT),  # permission denied
        (102, PERMANENT),  # syntax error
        (208, PERMANENT),  # invalid object name
        (207, PERMANENT),  # invalid column
        (8134, PERMANENT),  # divide by zero
        (245, PERMANENT),  # conversion failed
        (1205, TRANSIENT),  # deadlock victim
        (1222, TRANSIENT),  # lock request timeout
        (40613, TRANSIENT),  # database not available (Azure)
        (40501, TRANSIENT),  # service busy
        (10928, TRANSIENT),  # resource limit
        (10054, TRANSIENT),  # connection reset
        (50000, UNKNOWN),  # RAISERROR / THROW of the script: retried
        (2627, UNKNOWN),  # a duplicate key a later attempt may not meet
    ],
)
def test_sql_server_numbers(number: int, kind: str) -> None:
    found = classify("sqlserver", "42000", number, f"something ({number})")
    assert found.kind == kind
    assert found.retried == (kind != PERMANENT)
    if kind != UNKNOWN:
        assert f"error {number}" in found.reason


def test_sql_server_without_a_number_falls_back_to_sqlstate() -> None:
    assert classify("sqlserver", "08S01", None, "link failure").kind == TRANSIENT
    assert classify("sqlserver", "HYT00", None, "query timeout").kind == TRANSIENT
    assert classify("sqlserver", "28000", None, "login failed").kind == PERMANENT


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [
        ("42601", PERMANENT), ("42P01", PERMANENT), ("42501", PERMANENT), ("22012", PERMANENT),
        ("28P01", PERMANENT), ("3D000", PERMANENT), ("40001", TRANSIENT), ("40P01", TRANSIENT),
        ("55P03", TRANSIENT), ("57014", TRANSIENT), ("53300", TRANSIENT), ("08006", TRANSIENT),
        ("P0001", UNKNOWN), ("23505", UNKNOWN), (None, UNKNOWN),
    ],
)  # fmt: skip
def test_postgresql_sqlstates(sqlstate: str | None, kind: str) -> None:
    assert classify("postgresql", sqlstate, None, "x").kind == kind


def test_mysql_and_sqlite() -> None:
    assert classify("mysql", "42000", 1044, "").kind == PERMANENT
    assert classify("mysql", "40001", 1213, "").kind == TRANSIENT
    assert classify("mysql", "HY000", 1644, "").kind == UNKNOWN  # SIGNAL of the script
    assert classify("sqlite", "HY000", 5, "database is locked").kind == TRANSIENT
    assert classify("sqlite", "HY000", 1, 'near "SELEC": syntax error').kind == PERMANENT
    assert classify("sqlite", "HY000", 1, "no such table: t").kind == PERMANENT
    assert classify("sqlite", "HY000", 1, "integer overflow").kind == UNKNOWN
    assert classify("sqlite", "HY000", 2067, "UNIQUE constraint failed").kind == UNKNOWN


def test_error_number_at_the_end_of_a_driver_message() -> None:
    assert error_number("Table 'd.t' doesn't exist (1146)") == 1146
    assert error_number("Invalid object name 'x'. (208)") == 208
    assert error_number("no number here") is None
    assert error_number(None) is None
