"""The messages the orchestrators and activities pass each other, one frozen type each.

Durable Functions carries them as JSON: ``to_json()`` gives the document a function receives and
``from_json()`` reads it back, field by field (an orchestrator's history may hold documents an
older version wrote, so a field added later has a default). Activities annotate their input as a
bare ``dict`` (the Python worker refuses ``dict[str, Any]`` on a binding) and read it here first.

A step's messages all start with its ``StepRef`` fields (``job_execution_id``, ``step_id`` and,
when the execution is traced, ``traceparent``), flattened into the document as before.

The path of a first attempt: ``job_execution`` starts from an ``ExecutionStart``;
``begin_execution`` answers a ``Plan`` (with the first step's ``Expansion``), the execution runs
``TargetRun`` activities (or ``step_batch`` children with a ``BatchInput``, ``TargetRange``
chunks, or ``step_lane`` lanes with a ``LaneInput``), each answering an ``AttemptAnswer``; a
target that must retry gets a ``target_retry`` orchestration (``RetryInput``), which ends with a
``RetryEnd`` for ``settle_target``; a cancelled lane hands the rest of its ordinals to
``cancel_targets`` (``CancelRange``); ``finish_step`` takes a ``StepEnd`` and answers a
``StepOutcome``, which holds the ``ExecutionEnd`` when the step ended the execution; otherwise
``finish_execution`` (``ExecutionFinish``) or, when the orchestration cannot go on,
``end_execution`` (``ExecutionAbort``) answers it.

Beside executions: a schedule's orchestration carries a ``ScheduleState``, reads a
``LoadedSchedule`` and starts a ``ScheduledRun``; a notification's orchestration starts from a
``Delivery``, makes tries that answer a ``DeliveryAnswer`` and ends with a ``DeliveryOutcome``.
"""

from sqlfleet.durable.messages.background import (
    Delivery,
    DeliveryAnswer,
    DeliveryOutcome,
    LoadedSchedule,
    ScheduledRun,
    ScheduleState,
)
from sqlfleet.durable.messages.executions import (
    ExecutionAbort,
    ExecutionEnd,
    ExecutionFinish,
    ExecutionStart,
    Expansion,
    Plan,
    PlannedStep,
    StepEnd,
    StepOutcome,
    StepRef,
    StepStart,
)
from sqlfleet.durable.messages.targets import (
    AttemptAnswer,
    BatchInput,
    CancelRange,
    LaneInput,
    RetryEnd,
    RetryInput,
    TargetRange,
    TargetRun,
)

__all__ = [
    "AttemptAnswer",
    "BatchInput",
    "CancelRange",
    "Delivery",
    "DeliveryAnswer",
    "DeliveryOutcome",
    "ExecutionAbort",
    "ExecutionEnd",
    "ExecutionFinish",
    "ExecutionStart",
    "Expansion",
    "LaneInput",
    "LoadedSchedule",
    "Plan",
    "PlannedStep",
    "RetryEnd",
    "RetryInput",
    "ScheduleState",
    "ScheduledRun",
    "StepEnd",
    "StepOutcome",
    "StepRef",
    "StepStart",
    "TargetRange",
    "TargetRun",
]
