"""The job execution orchestrator as a generator, driven by hand: what it asks for when a
step's sub-orchestration fails and when anything else fails (an activity out of retries), and
the turns a small execution takes.

The context records what the orchestrator schedules; the test answers each request (``send``)
or fails it (``throw``), as the Durable Functions SDK does on replay.
"""

from __future__ import annotations

from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrators.executions import run_execution
from sqlfleet.durable import names
from sqlfleet.durable.messages import Expansion, Plan, StepEnd, StepOutcome, StepRef, StepStart

EXECUTION = "5f0c8d1e-7b7a-4c61-9d5e-0a1b2c3d4e5f"
# What every activity of step 1 gets: its ids and the step's span in the execution's trace
# (sqlfleet.telemetry.ids: the trace id is the execution id, the span id a hash of both ids).
STEP_1 = {
    "job_execution_id": EXECUTION,
    "step_id": 1,
    "traceparent": "00-5f0c8d1e7b7a4c619d5e0a1b2c3d4e5f-461abf1573435502-01",
}


# What expand_step gets for step 1 of a two-step plan: the step and how it would end now (a
# small step of SQLite files runs and ends within expand_step).
START_1 = {**STEP_1, "finish": {**STEP_1, "last": False, "execution_error": None,
                                "on_failure": "fail"}}  # fmt: skip


class FakeContext:
    """What ``run_execution`` uses of ``DurableOrchestrationContext``: each call answers a
    description of the task instead of scheduling it."""

    instance_id = EXECUTION

    def __init__(self) -> None:
        self.custom_status: Any = None
        self.children: list[SimpleNamespace] = []

    def get_input(self) -> dict[str, str]:
        return {"job_execution_id": EXECUTION}

    def call_activity_with_retry(self, name: str, retry: object, payload: Any) -> Any:
        return ("activity", name, payload)

    def call_sub_orchestrator(self, name: str, payload: Any, instance_id: str) -> Any:
        child = SimpleNamespace(
            instance_id=instance_id, payload=payload, state=SimpleNamespace(name="RUNNING")
        )
        self.children.append(child)
        return child

    def task_all(self, tasks: list[Any]) -> Any:
        return ("all", tasks)

    def wait_for_external_event(self, name: str) -> Any:
        return ("event", name)

    def set_custom_status(self, status: Any) -> None:
        self.custom_status = status


PLAN = {
    "job_version": 1,
    "batch_size": 100,
    "chunk_size": 10,
    "local_chunk_size": 100,
    "chunk_from": 500,
    "steps": [
        {"step_id": 1, "max_parallelism": None, "on_failure": "fail"},
        {"step_id": 2, "max_parallelism": None, "on_failure": "fail"},
    ],
}


def _begin(context: FakeContext) -> Generator[Any, Any, Any]:
    orchestration = run_execution(context)  # type: ignore[arg-type]
    assert next(orchestration) == ("activity", names.BEGIN_EXECUTION, EXECUTION)
    expand = orchestration.send(PLAN)
    assert expand == ("activity", names.EXPAND_STEP, START_1)
    return orchestration


def test_a_failed_batch_fails_its_step_and_the_execution_naming_it() -> None:
    context = FakeContext()
    orchestration = _begin(context)
    kind, batches = orchestration.send({"targets": 250})
    assert kind == "all" and len(batches) == 3
    # The SDK fails the task_all with the first failed child's "{Reason} \n {Details}".
    context.children[1].state = SimpleNamespace(name="FAILED")
    finish_step = orchestration.throw(Exception("killed one batch \n None"))
    failure = f"the orchestration {EXECUTION}:s1:b1 of step 1 failed: killed one batch"
    assert finish_step == (
        "activity",
        names.FINISH_STEP,
        {
            **STEP_1,
            "error": failure,
            "last": False,
            "execution_error": failure,
            "on_failure": "fail",
        },  # fmt: skip
    )
    # The step stops the job: its finish ends the execution too (no finish_execution turn).
    ended = {"job_execution_id": EXECUTION, "lifecycle": "Failed", "last_message": failure}
    answer = {"lifecycle": "Failed", "stop": True, "execution": ended}
    assert orchestration.send(answer) == ("activity", names.QUEUE_NOTIFICATIONS, EXECUTION)
    with pytest.raises(StopIteration) as stopped:
        orchestration.send(1)
    assert stopped.value.value == ended
    assert context.custom_status == {"lifecycle": "Failed"}


def test_a_finish_step_that_does_not_end_the_execution_leaves_it_to_finish_execution() -> None:
    """An answer without ``execution`` (a stop the step could not end the execution with)."""
    context = FakeContext()
    orchestration = _begin(context)
    orchestration.send({"targets": 250})
    context.children[0].state = SimpleNamespace(name="FAILED")
    orchestration.throw(Exception("killed one batch \n None"))
    failure = f"the orchestration {EXECUTION}:s1:b0 of step 1 failed: killed one batch"
    finish = orchestration.send({"lifecycle": "Failed", "stop": True})
    assert finish == (
        "activity",
        names.FINISH_EXECUTION,
        {"job_execution_id": EXECUTION, "message": failure},
    )


@pytest.mark.parametrize("at", ["expand", "finish_step", "finish_execution"])
def test_any_other_failure_ends_the_execution_failed(at: str) -> None:
    context = FakeContext()
    orchestration = _begin(context)
    error = Exception(f"Activity function '{at}' failed: the job database is gone \n trace")
    if at == "expand":
        request = orchestration.throw(error)
    else:
        assert orchestration.send({"targets": 0})[1] == names.FINISH_STEP
        if at == "finish_step":
            request = orchestration.throw(error)
        else:
            assert orchestration.send({"lifecycle": "Failed", "stop": True})[1] == (
                names.FINISH_EXECUTION
            )
            request = orchestration.throw(error)
    message = (
        f"the orchestration {EXECUTION} failed: Activity function '{at}' failed: "
        "the job database is gone"
    )
    assert request == (
        "activity",
        names.END_EXECUTION,
        {"job_execution_id": EXECUTION, "lifecycle": "Failed", "message": message},
    )
    ended = {"job_execution_id": EXECUTION, "lifecycle": "Failed", "last_message": message}
    assert orchestration.send(ended) == ("activity", names.QUEUE_NOTIFICATIONS, EXECUTION)
    with pytest.raises(StopIteration) as stopped:
        orchestration.send(1)
    assert stopped.value.value == ended
    assert context.custom_status == {"lifecycle": "Failed"}


def test_a_small_run_takes_one_turn_per_step_and_ends_with_the_last_finish() -> None:
    context = FakeContext()
    orchestration = run_execution(context)  # type: ignore[arg-type]
    assert next(orchestration) == ("activity", names.BEGIN_EXECUTION, EXECUTION)
    # begin_execution expanded step 1 already: its two targets run as activities of the
    # execution itself (no sub-orchestration for a step this small).
    kind, attempts = orchestration.send({**PLAN, "first": {"targets": 2, "local": True}})
    assert kind == "all" and not context.children
    assert attempts == [
        (
            "activity",
            names.RUN_TARGET,
            {**STEP_1, "ordinal": ordinal, "attempt": 1, "retry_lane": True},
        )
        for ordinal in (0, 1)
    ]
    finish_step = orchestration.send([{}, {}])
    assert finish_step == (
        "activity",
        names.FINISH_STEP,
        {**STEP_1, "last": False, "execution_error": None, "on_failure": "fail"},
    )
    assert orchestration.send({"lifecycle": "Succeeded", "stop": False})[1] == names.EXPAND_STEP
    last = orchestration.send({"targets": 0})
    assert last[1] == names.FINISH_STEP and last[2]["last"] is True
    ended = {"job_execution_id": EXECUTION, "lifecycle": "Succeeded", "last_message": None}
    answer = {"lifecycle": "Succeeded", "stop": False, "execution": ended}
    assert orchestration.send(answer) == ("activity", names.QUEUE_NOTIFICATIONS, EXECUTION)
    # Notifications that cannot even be queued change nothing about how the execution ended.
    with pytest.raises(StopIteration) as stopped:
        orchestration.throw(Exception("Activity function 'queue_notifications' failed: gone"))
    assert stopped.value.value == ended
    assert context.custom_status == {"lifecycle": "Succeeded"}


def test_a_bounded_step_runs_in_lanes_even_when_small() -> None:
    context = FakeContext()
    orchestration = run_execution(context)  # type: ignore[arg-type]
    next(orchestration)
    plan = {**PLAN, "first": {"targets": 3}}
    plan["steps"] = [{**PLAN["steps"][0], "max_parallelism": 2}, PLAN["steps"][1]]
    kind, lanes = orchestration.send(plan)
    assert kind == "all" and [c.instance_id for c in context.children] == [
        f"{EXECUTION}:s1:l0",
        f"{EXECUTION}:s1:l1",
    ]


@pytest.mark.parametrize(
    ("count", "local", "chunk"),
    [(2, False, 1), (39, True, 1), (40, True, 3), (100, False, 7), (499, False, 10),
     (500, False, 10), (500, True, 100)],
)  # fmt: skip
def test_steps_are_spread_over_a_few_activities_by_size(
    count: int, local: bool, chunk: int
) -> None:
    plan = Plan.from_json({**PLAN, "spread_from": 40, "spread": 16})
    assert plan.chunk_for(count, local) == chunk


@pytest.mark.parametrize(
    ("count", "local", "chunk", "in_place"),
    [(39, True, 20, True), (40, True, 4, True), (100, True, 10, True), (100, False, 7, True),
     (200, True, 20, True), (499, True, 50, True), (1000, True, 100, True),
     (1001, True, 100, False), (200, False, 10, False)],
)  # fmt: skip
def test_local_steps_are_spread_over_the_chunks_the_host_runs_at_once(
    count: int, local: bool, chunk: int, in_place: bool
) -> None:
    """More local chunks than the host runs at once (``local_spread``) would wait for one
    another in waves: mid-size local steps make that many, and run in place up to it."""
    document = {**PLAN, "spread_from": 40, "spread": 16, "local_parts": 2, "local_spread": 10}
    plan = Plan.from_json(document)
    assert plan.chunk_for(count, local) == chunk
    assert plan.in_place(count, None, local) is in_place
    assert Plan.from_json(plan.to_json()) == plan
    older = Plan.from_json({**document, "local_spread": 0})  # a plan written before it
    assert older.chunk_for(200, True) == 10 and not older.in_place(200, None, True)


def test_a_mid_size_step_goes_to_a_batch_in_chunks() -> None:
    context = FakeContext()
    orchestration = run_execution(context)  # type: ignore[arg-type]
    next(orchestration)
    plan = {**PLAN, "spread_from": 40, "spread": 16, "first": {"targets": 60, "local": True}}
    kind, children = orchestration.send(plan)
    assert kind == "all" and [c.instance_id for c in context.children] == [f"{EXECUTION}:s1:b0"]


@pytest.mark.parametrize(
    ("count", "local", "batches", "span"),
    [(10_000, True, 100, 100), (10_001, True, 51, 200), (100_000, True, 100, 1000),
     (100_000, False, 100, 1000), (250_000, False, 100, 2500)],
)  # fmt: skip
def test_a_huge_step_gets_bigger_batches_not_more(
    count: int, local: bool, batches: int, span: int
) -> None:
    """Each child's end replays the execution's history, which holds every child: past
    ``max_batches`` batches of ``batch_size``, batches grow (in whole chunks) instead."""
    context = FakeContext()
    orchestration = run_execution(context)  # type: ignore[arg-type]
    next(orchestration)
    plan = {**PLAN, "spread_from": 40, "spread": 16, "local_parts": 2, "local_spread": 10,
            "max_batches": 100, "first": {"targets": count, "local": local}}  # fmt: skip
    orchestration.send(plan)
    inputs = [child.payload for child in context.children]
    assert len(inputs) == batches
    assert [(i["start"], i["stop"]) for i in inputs[:2]] == [(0, span), (span, 2 * span)]
    assert inputs[-1]["stop"] == count
    chunk = Plan.from_json(plan).chunk_for(count, local)
    assert all(i["chunk"] == chunk for i in inputs) and span % chunk == 0
    older = {**plan, "max_batches": 0}  # a plan written before it: batches of 100
    context = FakeContext()
    orchestration = run_execution(context)  # type: ignore[arg-type]
    next(orchestration)
    orchestration.send(older)
    assert len(context.children) == -(-count // 100)


def test_a_first_step_begin_execution_ran_takes_no_turn_of_its_own() -> None:
    """``begin_execution`` ran a small first step and finished it (``ran``): the execution
    goes on to step 2 at once; a last step's end ends it; retry lanes still running
    (``pending``) are waited for as after a ``finish_step``."""
    context = FakeContext()
    orchestration = run_execution(context)  # type: ignore[arg-type]
    next(orchestration)
    ran = {"lifecycle": "Succeeded", "stop": False}
    begun = {**PLAN, "first": {"targets": 2, "local": True}, "ran": ran}
    expand = orchestration.send(begun)  # no run_targets, no finish_step
    step_2 = {**STEP_1, "step_id": 2, "traceparent": expand[2]["traceparent"]}
    finish_2 = {**step_2, "last": True, "execution_error": None, "on_failure": "fail"}
    assert expand == ("activity", names.EXPAND_STEP, {**step_2, "finish": finish_2})
    assert context.custom_status == {"step_id": 1, "targets": 2}
    # expand_step ran step 2 to its end as well, and the execution with it
    ended = {"job_execution_id": EXECUTION, "lifecycle": "Succeeded", "last_message": None}
    ran_2 = {"targets": 3, "local": True, "ran": {**ran, "execution": ended}}
    assert orchestration.send(ran_2) == ("activity", names.QUEUE_NOTIFICATIONS, EXECUTION)

    context = FakeContext()
    orchestration = run_execution(context)  # type: ignore[arg-type]
    next(orchestration)
    one_step = {**PLAN, "steps": PLAN["steps"][:1]}  # type: ignore[index]
    done = {**ran, "execution": ended}
    begun = {**one_step, "first": {"targets": 2, "local": True}, "ran": done}
    assert orchestration.send(begun) == ("activity", names.QUEUE_NOTIFICATIONS, EXECUTION)

    context = FakeContext()
    orchestration = run_execution(context)  # type: ignore[arg-type]
    next(orchestration)
    begun = {**one_step, "first": {"targets": 2, "local": True}, "ran": {"pending": True}}
    assert orchestration.send(begun) == ("event", names.STEP_SETTLED_EVENT)
    finishing = {**STEP_1, "last": True, "execution_error": None, "on_failure": "fail"}
    assert orchestration.send(1) == ("activity", names.FINISH_STEP, finishing)
    assert orchestration.send(done) == ("activity", names.QUEUE_NOTIFICATIONS, EXECUTION)


def test_a_plan_keeps_what_begin_execution_ran() -> None:
    plan = Plan.from_json({**PLAN, "ran": {"pending": True}})
    assert plan.ran is not None and plan.ran.pending
    assert Plan.from_json(plan.to_json()) == plan
    assert Plan.from_json(PLAN).ran is None and "ran" not in Plan.from_json(PLAN).to_json()
    expansion = Expansion.from_json({"targets": 2, "local": True, "ran": {"pending": True}})
    assert expansion.ran == StepOutcome(pending=True)
    assert Expansion.from_json(expansion.to_json()) == expansion
    assert StepStart.from_json(START_1) == StepStart(
        StepRef.from_json(STEP_1), StepEnd.from_json(START_1["finish"])
    )
    assert StepStart.from_json(START_1).to_json() == START_1
    assert StepStart.from_json(STEP_1).finish is None  # an older orchestration's input
