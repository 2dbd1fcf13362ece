"""Result values as JSON carries them, and back again for binding (``sqlfleet.odbc``).

Datetimes and dates become ISO text, Decimal text, bytes ``0x``-prefixed hex, UUIDs text,
non-finite floats text; SQL Server's ``datetimeoffset`` arrives as raw bytes and leaves as ISO
text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import struct
from typing import Any

# A kept result value is cut to this many characters of JSON (``truncated`` then says so): a
# 200 MB value must not live on in an outcome, its pickles and the output table.
MAX_VALUE_CHARS = 64 * 1024


def cut_value(value: Any) -> tuple[Any, bool]:
    """``value`` cut so that its JSON form (``json_value``) has at most ``MAX_VALUE_CHARS``
    characters, and whether it was cut; texts and bytes only, the rest is small."""
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS], True
    if isinstance(value, (bytes, bytearray)) and 2 + 2 * len(value) > MAX_VALUE_CHARS:
        return bytes(value[: (MAX_VALUE_CHARS - 2) // 2]), True
    return value, False


def json_value(value: Any) -> Any:
    """A result value as JSON can carry it (see the module docstring for the forms)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex().upper()
    return str(value)  # Decimal, UUID and anything a converter produced


def bind_value(kind: str, value: Any) -> Any:
    """The inverse of ``json_value`` for a column of ``kind``, ready to bind."""
    if value is None:
        return None
    if kind == "binary" and isinstance(value, str):
        return bytes.fromhex(value[2:] if value[:2].lower() == "0x" else value)
    if kind == "datetime" and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if kind == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if kind == "time" and isinstance(value, str):
        return dt.time.fromisoformat(value)
    if kind == "decimal":
        return decimal.Decimal(str(value))
    if kind == "float":
        return float(value)
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        return bool(value)
    return value


def datetimeoffset_text(raw: bytes) -> str:
    """SQL Server ``datetimeoffset`` (SQL_SS_TIMESTAMPOFFSET_STRUCT) as ISO 8601 text."""
    year, month, day, hour, minute, second, nanos, tz_hour, tz_minute = struct.unpack("<6hI2h", raw)
    zone = dt.timezone(dt.timedelta(hours=tz_hour, minutes=tz_minute))
    moment = dt.datetime(year, month, day, hour, minute, second, nanos // 1000, tzinfo=zone)
    return moment.isoformat()
