"""Result values through JSON and back, SQL Server datetimeoffset, and config errors as outcomes."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import struct
import uuid

import pytest

from sqlfleet.odbc import bind_value, datetimeoffset_text, json_value, run_script
from sqlfleet.signin import ConnectionAuth
from sqlfleet.targets import Target

VALUES = [
    # (python value from the driver, JSON form, column kind)
    (None, None, "text"),
    (True, True, "boolean"),
    (42, 42, "integer"),
    (2**70, 2**70, "integer"),
    (1.5, 1.5, "float"),
    (float("inf"), "inf", "float"),
    ("héllo", "héllo", "text"),
    (decimal.Decimal("12.340"), "12.340", "decimal"),
    (dt.datetime(2024, 2, 29, 23, 59, 59, 123456), "2024-02-29T23:59:59.123456", "datetime"),
    (dt.date(2024, 2, 29), "2024-02-29", "date"),
    (dt.time(1, 2, 3, 400000), "01:02:03.400000", "time"),
    (b"\x00\xff\x10", "0x00FF10", "binary"),
    (bytearray(b""), "0x", "binary"),
    (
        uuid.UUID("6f1c3bde-49a8-4b37-9d4e-0a2a9f4e8a11"),
        "6f1c3bde-49a8-4b37-9d4e-0a2a9f4e8a11",
        "uuid",
    ),
]


@pytest.mark.parametrize(("value", "text", "kind"), VALUES)
def test_json_round_trip(value, text, kind):
    assert json_value(value) == text
    assert json.loads(json.dumps(json_value(value), allow_nan=False)) == text
    back = bind_value(kind, text)
    if kind == "uuid":
        assert back == str(value)
    elif kind == "float" and isinstance(text, str):
        assert back == float(text)
    else:
        assert back == value


def test_sqlserver_datetimeoffset_struct():
    raw = struct.pack("<6hI2h", 2024, 3, 31, 23, 30, 15, 123_456_700, -5, -30)
    assert datetimeoffset_text(raw) == "2024-03-31T23:30:15.123456-05:30"
    raw = struct.pack("<6hI2h", 2024, 1, 1, 0, 0, 0, 0, 0, 0)
    assert datetimeoffset_text(raw) == "2024-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("target", "auth", "expected"),
    [
        (Target("postgresql", "h", None, "we\x00ird"), ConnectionAuth("u"), "NUL character"),
        (
            Target("postgresql", "h", None, "db"),
            ConnectionAuth(access_token=b"\x02\x00\x00\x00a\x00"),
            "Microsoft Entra token sign-in for postgresql targets is not supported",
        ),
        (Target("mysql", "h", None, "db"), ConnectionAuth("u", " pw"), "leading and trailing"),
    ],
)
def test_configuration_errors_fail_the_target_without_raising(target, auth, expected):
    outcome = run_script(target, auth, "SELECT 1", timeout_seconds=5, max_rows=1)
    assert not outcome.succeeded
    assert expected in outcome.error
    assert " pw" not in outcome.error.replace("password", "")
