"""Counting what a job store asks of its database: statements (SQLAlchemy's
``before_cursor_execute``) and transactions (its ``begin``), to assert round trips."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event

from sqlfleet.store import SqlJobStore


@dataclasses.dataclass
class Statements:
    """The statements sent while ``counted`` was open, and how many transactions began."""

    sql: list[str] = dataclasses.field(default_factory=list)
    transactions: int = 0

    @property
    def count(self) -> int:
        return len(self.sql)


@contextlib.contextmanager
def counted(store: SqlJobStore) -> Iterator[Statements]:
    """Count what ``store`` sends its database inside the block (every thread's)."""
    seen = Statements()
    engine = store._db.engine

    def statement(*args: Any) -> None:
        seen.sql.append(str(args[2]))

    def began(_connection: Any) -> None:
        seen.transactions += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", began)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", began)
