"""The messages between the orchestrators and the activities (``sqlfleet.durable.messages``):
each type writes exactly the document the code wrote before it had a type (the literal dicts
below are those documents), and reads it back into an equal value, so that histories already
in a task hub replay unchanged. Documents an older version wrote still read as they did."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sqlfleet.durable.messages import (
    BatchInput,
    CancelRange,
    Delivery,
    DeliveryAnswer,
    DeliveryOutcome,
    ExecutionAbort,
    ExecutionFinish,
    ExecutionStart,
    LaneInput,
    LoadedSchedule,
    RetryEnd,
    RetryInput,
    ScheduledRun,
    ScheduleState,
    StepRef,
)
from sqlfleet.schedules import due_occurrence, next_occurrence

EXECUTION = "5f0c8d1e-7b7a-4c61-9d5e-0a1b2c3d4e5f"
TRACEPARENT = "00-5f0c8d1e7b7a4c619d5e0a1b2c3d4e5f-461abf1573435502-01"
STEP = StepRef(EXECUTION, 2, TRACEPARENT)
# What the orchestrators spread into every message of a step (``{**ref, ...}``).
REF = {"job_execution_id": EXECUTION, "step_id": 2, "traceparent": TRACEPARENT}
UNTRACED = StepRef(EXECUTION, 2)
UTC = dt.timezone.utc
OCCURRENCE = dt.datetime(2024, 2, 29, 6, 30, tzinfo=UTC)

# (the message, the document the code built by hand before it had a type)
DOCUMENTS: list[tuple[Any, Any]] = [
    (ExecutionStart(EXECUTION), {"job_execution_id": EXECUTION}),
    # orchestrators.executions._fan_out, a batch of a big step of SQLite files
    (
        BatchInput(STEP, 100, 200, 10, True),
        {**REF, "start": 100, "stop": 200, "chunk": 10, "local": True},
    ),
    # ... and of a mid-size one elsewhere, one run_target each
    (BatchInput(UNTRACED, 0, 60, 1), {**UNTRACED.to_json(), "start": 0, "stop": 60, "chunk": 1}),
    # step_batch continued as new with the chunks that found no target slot ({**job, ranges})
    (
        BatchInput(STEP, 0, 100, 10, False, ((20, 30), (90, 100))),
        {**REF, "start": 0, "stop": 100, "chunk": 10, "ranges": [[20, 30], [90, 100]]},
    ),
    # a lane as orchestrators.executions._fan_out starts it, and as it continues as new
    (LaneInput(STEP, 1, 3, 10), {**REF, "next": 1, "stride": 3, "stop": 10, "attempt": 1}),
    (
        LaneInput(STEP, 4, 3, 10, 2, "2024-02-29T06:30:02+00:00"),
        {
            **REF,
            "next": 4,
            "stride": 3,
            "stop": 10,
            "attempt": 2,
            "not_before": "2024-02-29T06:30:02+00:00",
        },
    ),  # fmt: skip
    # a cancelled lane's rest, and a cancelled retry lane's one target
    (CancelRange(STEP, 4, 3, 10), {**REF, "next": 4, "stride": 3, "stop": 10}),
    (CancelRange(STEP, 7, 1, 8), {**REF, "next": 7, "stride": 1, "stop": 8}),
    # settle_target after a retry lane that ended, and after one that failed
    (RetryEnd(STEP, 7), {**REF, "ordinal": 7, "error": None}),
    (RetryEnd(STEP, 7, "boom"), {**REF, "ordinal": 7, "error": "boom"}),
    (
        RetryInput(STEP, 7, 3, "2024-02-29T06:30:02+00:00"),
        {**REF, "ordinal": 7, "attempt": 3, "not_before": "2024-02-29T06:30:02+00:00"},
    ),
    # finish_execution took the bare id, or the id and the message of a step that failed
    (ExecutionFinish(EXECUTION), EXECUTION),
    (
        ExecutionFinish(EXECUTION, "a sub-orchestration of step 1 failed: gone"),
        {"job_execution_id": EXECUTION, "message": "a sub-orchestration of step 1 failed: gone"},
    ),
    (
        ExecutionAbort(EXECUTION, "Failed", "the orchestration x failed: gone"),
        {
            "job_execution_id": EXECUTION,
            "lifecycle": "Failed",
            "message": "the orchestration x failed: gone",
        },
    ),  # fmt: skip
    # job_schedule as sync_job_schedule starts it, and as it continues as new
    (ScheduleState("job-1"), {"job_id": "job-1"}),
    (
        ScheduleState("job-1", OCCURRENCE),
        {"job_id": "job-1", "last_occurrence": "2024-02-29T06:30:00+00:00"},
    ),
    (
        LoadedSchedule(
            "nightly",
            True,
            "days",
            1,
            dt.datetime(2024, 1, 1, 6, 30, tzinfo=UTC),
            dt.datetime(9999, 12, 31, 11, 59, 59, tzinfo=UTC),
            "Europe/Amsterdam",
            None,
        ),
        {
            "job_name": "nightly",
            "enabled": True,
            "interval_type": "days",
            "interval_count": 1,
            "start_time": "2024-01-01T06:30:00+00:00",
            "end_time": "9999-12-31T11:59:59+00:00",
            "time_zone": "Europe/Amsterdam",
            "cron": None,
        },
    ),
    (
        ScheduledRun("job-1", "2024-02-29T06:30:00+00:00"),
        {"job_id": "job-1", "occurrence": "2024-02-29T06:30:00+00:00"},
    ),
    (
        Delivery(EXECUTION, "d-1", 2),
        {"job_execution_id": EXECUTION, "delivery_id": "d-1", "attempt": 2},
    ),
    (DeliveryAnswer(True), {"delivered": True}),
    (
        DeliveryAnswer(False, "2024-02-29T06:30:04+00:00"),
        {"delivered": False, "retry_at": "2024-02-29T06:30:04+00:00"},
    ),
    (DeliveryOutcome(False, 5), {"delivered": False, "attempts": 5}),
]


@pytest.mark.parametrize(("message", "document"), DOCUMENTS)
def test_a_message_writes_the_document_it_replaces_and_reads_it_back(
    message: Any, document: Any
) -> None:
    assert message.to_json() == document
    assert type(message).from_json(document) == message


def test_the_scheduled_run_keeps_the_text_the_execution_id_derives_from() -> None:
    assert ScheduledRun.at("job-1", OCCURRENCE) == ScheduledRun(
        "job-1", "2024-02-29T06:30:00+00:00"
    )
    # Text an older version sent (or any other spelling) is passed on as it came.
    older = {"job_id": "job-1", "occurrence": "2024-02-29T06:30:00Z"}
    assert ScheduledRun.from_json(older).to_json() == older


def test_documents_of_older_versions_read_as_before() -> None:
    # A lane without its attempt starts at the first; an empty not_before is none.
    assert LaneInput.from_json({**REF, "next": 0, "stride": 2, "stop": 4, "not_before": ""}) == (
        LaneInput(STEP, 0, 2, 4)
    )
    # A retry lane an older version started as a step_lane runs as target_retry.
    legacy = {**REF, "next": 7, "stride": 1, "stop": 8, "attempt": 2,
              "not_before": "2024-02-29T06:30:02+00:00", "retry_lane": True}  # fmt: skip
    lane = LaneInput.from_json(legacy)
    assert lane.retry_lane and lane.to_json() == legacy
    assert lane.as_retry() == RetryInput(STEP, 7, 2, "2024-02-29T06:30:02+00:00")
    # A batch without a chunk runs one target per activity; its chunks cover the batch.
    assert BatchInput.from_json({**REF, "start": 0, "stop": 3}).chunk == 1
    assert BatchInput(STEP, 100, 125, 10).chunks() == ((100, 110), (110, 120), (120, 125))
    assert BatchInput(STEP, 0, 100, 10, ranges=((20, 30),)).chunks() == ((20, 30),)
    # An untraced step's documents carry no traceparent, and an empty one is none.
    assert RetryEnd.from_json({**REF, "traceparent": "", "ordinal": 1}) == RetryEnd(UNTRACED, 1)
    assert "traceparent" not in CancelRange(UNTRACED, 0, 1, 1).to_json()
    # A notification's orchestration without an attempt makes its first try.
    assert Delivery.from_json({"job_execution_id": EXECUTION, "delivery_id": "d-1"}).attempt == 1
    assert DeliveryAnswer.from_json({"delivered": False, "retry_at": None}) == DeliveryAnswer(False)
    # A schedule that never ran, or whose last run is written with a Z.
    assert ScheduleState.from_json({"job_id": "job-1", "last_occurrence": None}) == ScheduleState(
        "job-1"
    )
    written = ScheduleState.from_json(
        {"job_id": "job-1", "last_occurrence": "2024-02-29T06:30:00Z"}
    )
    assert written.last_occurrence == OCCURRENCE


def test_a_loaded_schedule_is_what_the_schedule_functions_take() -> None:
    loaded = LoadedSchedule.from_json(
        {
            "job_name": "every-hour",
            "enabled": True,
            "interval_type": "hours",
            "interval_count": 1,
            "start_time": "2024-01-01T00:00:00+00:00",
            "end_time": "9999-12-31T11:59:59+00:00",
            "time_zone": None,
            "cron": None,
        }
    )
    now = dt.datetime(2024, 2, 29, 6, 30, tzinfo=UTC)
    assert due_occurrence(loaded, None, now) == dt.datetime(2024, 2, 29, 6, 0, tzinfo=UTC)
    assert next_occurrence(loaded, now) == dt.datetime(2024, 2, 29, 7, 0, tzinfo=UTC)
