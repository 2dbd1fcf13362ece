"""Times as SQL Fleet passes them around: timezone-aware UTC, ISO 8601 text with ``Z``."""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    """Now, in UTC, timezone-aware."""
    return dt.datetime.now(dt.timezone.utc)


def parse_utc(text: object) -> dt.datetime:
    """An ISO 8601 time (``Z`` or an offset; none means UTC) as an aware datetime. Raises
    ``ValueError`` for text that is not one."""
    value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def format_utc(value: dt.datetime) -> str:
    """``value`` as ISO 8601 text in UTC with a ``+00:00`` offset (what ``parse_utc`` reads)."""
    return value.astimezone(dt.timezone.utc).isoformat()
