"""Reading an execution's targets a page at a time (part of ``SqlJobStore``).

An execution may have 100,000 targets; no read builds all of them at once. Pages run in
(step, ordinal) order and continue by key (``step_id``/``target_ordinal`` after the last row),
so a page costs the same wherever it lies. A page of outputs reads its messages, result sets
and earlier attempts in one statement each for the whole page.

A page of target rows is read ``PAGE_CHUNK`` rows at a time (``yield_per``: a server-side
cursor on PostgreSQL), and each chunk becomes models and then JSON before the next is read:
a whole 10,000-row page as rows and models took the host about 80 MiB more (the JSON is a
tenth of that), and glibc kept much of it afterwards.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.engine import Connection, RowMapping

from sqlfleet.errors import BadRequest
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import ResultSet, TargetExecution, TargetMessage, TargetOutput
from sqlfleet.models.executions import (
    OutputPage,
    TargetAttempt,
    TargetDetail,
    TargetPage,
    messages_dropped,
)
from sqlfleet.store.database import Database
from sqlfleet.store.rows import execution_row, row_document, uuid_text
from sqlfleet.store.tables import (
    job_executions,
    target_attempts,
    target_messages,
    target_outcomes,
    target_results,
)

E = job_executions
DEFAULT_TARGET_PAGE = 1000
MAX_TARGET_PAGE = 10_000
DEFAULT_OUTPUT_PAGE = 100
MAX_OUTPUT_PAGE = 1000
# Target rows made into models (and JSON) at a time within a page.
PAGE_CHUNK = 500
_TARGET_LIST = TypeAdapter(list[TargetExecution])


class TargetPageStore:
    """Pages of an execution's target rows and of their outputs."""

    _db: Database

    def page_target_executions(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        lifecycle: Lifecycle | None = None,
        top: int = DEFAULT_TARGET_PAGE,
        continuation: str | None = None,
    ) -> TargetPage:
        """Up to ``top`` target rows in (step, ordinal) order after ``continuation``; the
        page's ``continuation`` is None on the last page. Raises ``NotFound``, ``BadRequest``
        (``top``, ``continuation``)."""
        check_top(top, MAX_TARGET_PAGE)
        items: list[TargetExecution] = []
        with self._db.read() as connection:
            page = _page_chunks(connection, job_execution_id, step_id, lifecycle, top, continuation)
            for rows in page.rows():
                items += [TargetExecution.model_validate(row_document(row)) for row in rows]
        return TargetPage(items=items, continuation=page.continuation)

    def page_target_executions_json(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        lifecycle: Lifecycle | None = None,
        top: int = DEFAULT_TARGET_PAGE,
        continuation: str | None = None,
    ) -> bytes:
        """``page_target_executions``'s page as its JSON document (the bytes of
        ``TargetPage.model_dump_json()``), built ``PAGE_CHUNK`` rows at a time so that the
        page never exists as models: what answering a big page holds is its JSON. Raises as
        ``page_target_executions``."""
        check_top(top, MAX_TARGET_PAGE)
        # One buffer that grows in place and is handed over without a copy (getvalue): a page
        # is never held twice, as chunks and as their join.
        body = io.BytesIO()
        body.write(b'{"items":[')
        with self._db.read() as connection:
            page = _page_chunks(connection, job_execution_id, step_id, lifecycle, top, continuation)
            for number, rows in enumerate(page.rows()):
                models = [TargetExecution.model_validate(row_document(row)) for row in rows]
                if number:
                    body.write(b",")
                body.write(_TARGET_LIST.dump_json(models)[1:-1])  # without its brackets
        body.write(b'],"continuation":' + json.dumps(page.continuation).encode() + b"}")
        return body.getvalue()

    def page_target_outputs(
        self,
        job_execution_id: str,
        *,
        step_id: int | None = None,
        lifecycle: Lifecycle | None = None,
        top: int = DEFAULT_OUTPUT_PAGE,
        continuation: str | None = None,
    ) -> OutputPage:
        """What each target of a page produced (``get_target_output``'s document for each),
        in four statements whatever the page's size. Raises as ``page_target_executions``."""
        check_top(top, MAX_OUTPUT_PAGE)
        with self._db.read() as connection:
            rows = _page_rows(connection, job_execution_id, step_id, lifecycle, top, continuation)
            items = target_outputs(connection, rows[:top])
        return OutputPage(items=items, continuation=_next_token(rows, top))


def target_outputs(connection: Connection, rows: Sequence[RowMapping]) -> list[TargetOutput]:
    """The output documents of target ``rows``: messages, first result set, attempts."""
    ids = [row["row_id"] for row in rows]
    if not ids:
        return []
    messages: dict[int, list[TargetMessage]] = {}
    for m in connection.execute(
        sa.select(target_messages)
        .where(target_messages.c.row_id.in_(ids))
        .order_by(target_messages.c.row_id, target_messages.c.attempt, target_messages.c.sequence)
    ).mappings():
        messages.setdefault(m["row_id"], []).append(
            TargetMessage(
                attempt=m["attempt"],
                sequence=m["sequence"],
                message=m["message"],
                recorded_time=m["recorded_time"],
            )
        )
    results = {
        r["row_id"]: result_of(r)
        for r in connection.execute(
            sa.select(target_results).where(target_results.c.row_id.in_(ids))
        ).mappings()
    }
    details = {
        d["row_id"]: TargetDetail.model_validate_json(d["document"])
        for d in connection.execute(
            sa.select(target_outcomes).where(target_outcomes.c.row_id.in_(ids))
        ).mappings()
    }
    earlier: dict[int, list[RowMapping]] = {}
    for a in connection.execute(
        sa.select(target_attempts)
        .where(target_attempts.c.row_id.in_(ids))
        .order_by(target_attempts.c.row_id, target_attempts.c.attempt)
    ).mappings():
        earlier.setdefault(a["row_id"], []).append(a)
    return [
        _output(
            row,
            messages.get(row["row_id"], []),
            results.get(row["row_id"]),
            details.get(row["row_id"]),
            earlier.get(row["row_id"], []),
        )
        for row in rows
    ]


def _output(
    row: RowMapping,
    messages: list[TargetMessage],
    result: ResultSet | None,
    detail: TargetDetail | None,
    earlier: list[RowMapping],
) -> TargetOutput:
    detail = detail or TargetDetail()
    return TargetOutput(
        target=TargetExecution.model_validate(row_document(row)),
        messages=messages,
        messages_dropped=messages_dropped(messages),
        result=result,
        attempts=attempts_of(row, earlier),
        result_sets=([result] if result is not None else []) + detail.result_sets,
        result_sets_dropped=detail.result_sets_dropped,
        affected_rows=detail.affected_rows,
        message_details=detail.message_details,
        error=detail.error,
    )


def attempts_of(row: RowMapping, retried: list[RowMapping]) -> list[TargetAttempt]:
    """A target's attempts: those that ended in a retry (``target_attempts``; a waiting
    target's last one is among them), then the current or last one from its row."""
    current = row["current_attempts"] or 0
    waiting = row["lifecycle"] == Lifecycle.WAITING_FOR_RETRY.value
    attempts = [
        TargetAttempt(
            attempt=a["attempt"],
            start_time=a["start_time"],
            end_time=a["end_time"],
            lifecycle=Lifecycle.WAITING_FOR_RETRY,
            message=a["message"],
        )
        for a in retried
        if a["attempt"] < current or (waiting and a["attempt"] == current)
    ]
    if current and not (waiting and attempts and attempts[-1].attempt == current):
        attempts.append(
            TargetAttempt(
                attempt=current,
                start_time=row["current_attempt_start_time"],
                end_time=row["end_time"],
                lifecycle=Lifecycle(row["lifecycle"]),
                message=row["last_message"],
            )
        )
    return attempts


def result_of(row: RowMapping) -> ResultSet:
    return ResultSet(
        columns=json.loads(row["columns_json"]),
        rows=json.loads(row["rows_json"]),
        row_count=row["row_count"],
        truncated=row["truncated"],
    )


def _page_query(
    job_execution_id: str,
    step_id: int | None,
    lifecycle: Lifecycle | None,
    continuation: str | None,
) -> sa.Select[Any]:
    """The execution's target rows in (step, ordinal) order after ``continuation``."""
    query = sa.select(E).where(
        E.c.job_execution_id == uuid_text(job_execution_id), E.c.target_ordinal.is_not(None)
    )
    if step_id is not None:
        query = query.where(E.c.step_id == step_id)
    if lifecycle is not None:
        query = query.where(E.c.lifecycle == lifecycle.value)
    if continuation:
        after_step, after_ordinal = _decode(continuation)
        query = query.where(
            sa.or_(
                E.c.step_id > after_step,
                sa.and_(E.c.step_id == after_step, E.c.target_ordinal > after_ordinal),
            )
        )
    return query.order_by(E.c.step_id, E.c.target_ordinal)


def _page_rows(
    connection: Connection,
    job_execution_id: str,
    step_id: int | None,
    lifecycle: Lifecycle | None,
    top: int,
    continuation: str | None,
) -> list[RowMapping]:
    """Up to ``top + 1`` rows of the page (one more tells whether a next page exists)."""
    execution_row(connection, job_execution_id)  # NotFound for an unknown execution
    query = _page_query(job_execution_id, step_id, lifecycle, continuation).limit(top + 1)
    return list(connection.execute(query).mappings())


class _PageChunks:
    """A page's rows, ``PAGE_CHUNK`` at a time (``rows()``); once they have all been taken,
    ``continuation`` is the next page's token (None on the last page)."""

    def __init__(self, result: sa.engine.MappingResult, top: int) -> None:
        self._result = result
        self._top = top
        self.continuation: str | None = None

    def rows(self) -> Iterator[Sequence[RowMapping]]:
        taken, last = 0, None
        try:
            for rows in self._result.partitions():
                kept = rows[: self._top - taken]
                if kept:
                    taken, last = taken + len(kept), kept[-1]
                    yield kept
                if len(kept) < len(rows) and last is not None:  # a row past the page
                    self.continuation = _token(last)
                    return
        finally:
            self._result.close()


def _page_chunks(
    connection: Connection,
    job_execution_id: str,
    step_id: int | None,
    lifecycle: Lifecycle | None,
    top: int,
    continuation: str | None,
) -> _PageChunks:
    execution_row(connection, job_execution_id)  # NotFound for an unknown execution
    query = _page_query(job_execution_id, step_id, lifecycle, continuation).limit(top + 1)
    result = connection.execution_options(yield_per=PAGE_CHUNK).execute(query).mappings()
    return _PageChunks(result, top)


def check_top(top: int, highest: int) -> None:
    if not 1 <= top <= highest:
        raise BadRequest("top", f"expected a number from 1 to {highest}")


def _next_token(rows: Sequence[RowMapping], top: int) -> str | None:
    return _token(rows[top - 1]) if len(rows) > top else None


def _token(last: RowMapping) -> str:
    raw = f"{last['step_id']}.{last['target_ordinal']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()).decode()
        step, ordinal = (int(part) for part in raw.split("."))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("continuation", "is not a continuation token of this list") from None
    return step, ordinal
