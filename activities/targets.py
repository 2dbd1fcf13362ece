"""``run_target``: one attempt of one step on one target database.

The activity decides the target's next state itself — Succeeded, WaitingForRetry (answering
when to retry; the orchestration sleeps on a durable timer), Failed, TimedOut, Skipped or
Canceled — and writes it to the job database before answering, so the API shows progress live.
A first attempt from a ``step_batch`` that must be retried gets its retry lane started here
(``orchestrators.fanout``, ``activities.lanes``), so that it waits its own backoff, not its
batch's slowest target.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from activities import bp, lanes, slots
from activities.attemptends import detail_of, ending, result_of
from activities.cancellations import cancellations
from sqlfleet import odbc, telemetry
from sqlfleet.connections import credential_auth
from sqlfleet.dialects import OutputTable
from sqlfleet.durable import names
from sqlfleet.durable.messages import AttemptAnswer, StepRef, TargetRange, TargetRun
from sqlfleet.errors import IllegalTransition, SqlFleetError
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import utc_now
from sqlfleet.models.executions import MAX_RESULT_ROWS, TargetExecution
from sqlfleet.models.jobs import JobStep
from sqlfleet.outcomes import ResultSetOutcome
from sqlfleet.parametervalues import execution_parameters, hide_secret_values
from sqlfleet.runtime import job_store, settings, sqlite_folders
from sqlfleet.scriptprocesses import ScriptCall, ScriptProcesses, ScriptRun
from sqlfleet.scripts import script_values, script_variables
from sqlfleet.store import AttemptEnd, ChunkTurn, JobStore, StartedTarget, StartOutcome
from sqlfleet.targets import Target

logger = logging.getLogger("sqlfleet.activities")

# How long one turn of run_targets should last: the targets of a turn show InProgress from its
# start (their rows get their own start times when they end).
TURN_SECONDS = 0.5
LOCAL_CHUNKS_AT_ONCE = 5 * (os.cpu_count() or 1)


@bp.activity_trigger(input_name="attempt", activity=names.RUN_TARGET)
@bp.generic_input_binding(arg_name="client", type="durableClient")
def run_target(attempt: dict, client: str) -> dict[str, Any]:  # type: ignore[type-arg]
    """Input ``{job_execution_id, step_id, ordinal, attempt, retry_lane?}``; answer
    ``{lifecycle, attempt}`` plus ``retry_at`` (ISO time) when the target waits for a retry,
    ``canceled`` when the execution was cancelled. With ``retry_lane`` the retry is not the
    caller's business: a retry lane orchestration is started for it here. Raises only when the
    job database or the task hub fails (the orchestration retries the activity).

    A plain function: it runs on one of the worker's threads from start to end (the Functions
    worker runs synchronous functions on ``PYTHON_THREADPOOL_THREAD_COUNT`` threads, set it to
    ``maxConcurrentActivityFunctions``). ``client`` is the durableClient binding's JSON text,
    read only to start a retry lane. The agent-wide cap on concurrent target connections
    (``SQLFLEET_MAX_CONCURRENT_TARGETS``) bounds the attempts of this process."""
    return _attempt_with_lane(TargetRun.from_json(attempt), attempt, client).to_json()


@bp.activity_trigger(input_name="chunk", activity=names.RUN_TARGETS)
@bp.generic_input_binding(arg_name="client", type="durableClient")
def run_targets(chunk: dict, client: str) -> int:  # type: ignore[type-arg]
    """Input ``{job_execution_id, step_id, start, stop, local?}``: the first attempts of
    ordinals ``start..stop-1``, one after the other, in turns (``turn_target_chunk``: one
    transaction records how the previous turn's targets ended and starts the next turn's).
    The first turn holds one target; later ones as many as fit in about ``TURN_SECONDS`` at
    the pace seen so far. A target that must retry gets its retry lane once its end is
    written. Answers how many targets it handled; raises as ``run_target`` does, and a
    redelivery skips the targets already recorded.

    ``local`` chunks (SQLite files on this host) take turns too: at most
    ``LOCAL_CHUNKS_AT_ONCE`` of them run at once in this process. Their scripts use this
    host's CPU and disk, and beyond a few per core more of them only add contention for the
    interpreter lock and the driver's connect lock (bench/fleet.py on 2 cores, 1,000
    databases: 770-950 targets/s with 10 at once, 720-880 with 4, 350-690 with 32 chunks
    of 20 and no cap). Each turn's scripts run in one of the script processes
    (``sqlfleet.scriptprocesses``), which have those locks to themselves, unless the step
    writes an output table or the processes are still starting (then here): 906-1,141
    targets/s against 691-826 in this process, on another machine of 2 cores.

    A chunk holds one of its execution's target slots (``activities.slots``); when none comes
    free it handles nothing and answers 0, and its ``step_batch`` asks again shortly."""
    targets = TargetRange.from_json(chunk)
    with slots.target_slots.slot(targets.step.job_execution_id) as held:
        if not held:
            return 0
        with local_chunks if targets.local else contextlib.nullcontext():
            return _run_chunk(targets, client)


def _run_chunk(chunk: TargetRange, client: str) -> int:
    execution_id, step_id = chunk.step.job_execution_id, chunk.step.step_id
    start, stop = chunk.start, chunk.stop
    store = job_store()
    step = _step(store, execution_id, step_id)
    queued, ended = list(range(start, stop)), list[AttemptEnd]()
    size = 1
    while queued or ended:
        starting, queued = queued[:size], queued[size:]
        turn = store.turn_target_chunk(execution_id, step_id, ended, starting)
        recorded = set(turn.recorded)
        waiting = {
            end.ordinal: end.next_attempt_start_time
            for end in ended
            if end.ordinal in recorded and end.next_attempt_start_time is not None
        }
        _start_lanes(store, client, execution_id, step_id, {**waiting, **turn.waiting})
        if turn.canceled:  # the next turn cancels the rest at once
            size, ended = len(queued), []
            continue
        began = time.monotonic()
        ended = _run_turn(store, step, execution_id, turn, chunk.local)
        if turn.started:
            pace = max(1e-4, (time.monotonic() - began) / len(turn.started))
            size = max(1, int(TURN_SECONDS / pace))
    return stop - start


def _run_turn(
    store: JobStore, step: JobStep, execution_id: str, turn: ChunkTurn, local: bool
) -> list[AttemptEnd]:
    create_time = turn.execution_create_time or utc_now()
    with cancellations.watch(execution_id) as cancel:
        runs: Iterable[ScriptRun]
        far = bool(local and turn.started and step.output is None and _script_processes_ready())
        if far:
            runs = _run_far(store, step, execution_id, create_time, turn.started, cancel)
        else:
            runs = (
                _run_here(store, step, execution_id, create_time, target, cancel)
                for target in turn.started
            )
        pairs = list(zip(turn.started, runs, strict=True))
        for _, run in pairs:
            hide_secret_values(run.outcome, execution_id, store.get_execution_parameters)
        ends = [_attempt_end(target, step, run) for target, run in pairs]
    telemetry.turn_ended(
        {"job_execution_id": execution_id, "step_id": step.step_id},
        step,
        pairs,
        ends,
        script_process=far,
    )
    return ends


def _run_here(
    store: JobStore,
    step: JobStep,
    execution_id: str,
    create_time: dt.datetime,
    target: StartedTarget,
    cancel: threading.Event,
) -> ScriptRun:
    started = utc_now()
    if cancel.is_set():
        return ScriptRun(started, started, None)
    with concurrency.slot():
        outcome = _run(store, step, execution_id, create_time, target, cancel)
    return ScriptRun(started, utc_now(), outcome)


def _run_far(
    store: JobStore,
    step: JobStep,
    execution_id: str,
    create_time: dt.datetime,
    targets: list[StartedTarget],
    cancel: threading.Event,
) -> list[ScriptRun]:
    """The scripts of a turn, one after the other, in one of the script processes (a local
    chunk's targets share one engine, so they share one sign-in and one driver)."""
    wheres = [_where(target) for target in targets]
    engine = wheres[0].engine
    try:
        auth = credential_auth(store, step.credential_name, engine)
    except SqlFleetError:  # every target fails to sign in: let _run say so for each
        return [_run_here(store, step, execution_id, create_time, t, cancel) for t in targets]
    driver = settings().odbc_driver(engine)
    folders = sqlite_folders()
    calls = [
        ScriptCall(
            target=where,
            auth=auth,
            script=step.command,
            timeout_seconds=step.step_timeout_seconds,
            max_rows=MAX_RESULT_ROWS,
            variables=_variables(step, execution_id, create_time, target),
            driver=driver,
            sqlite_folders=folders,
        )
        for target, where in zip(targets, wheres, strict=True)
    ]
    with concurrency.slot():
        return script_processes().run(calls, cancel)


def _attempt_end(target: StartedTarget, step: JobStep, run: ScriptRun) -> AttemptEnd:
    if run.outcome is None:  # the execution was cancelled before this target's turn came
        return AttemptEnd(target.ordinal, Lifecycle.CANCELED, run.started, run.ended)
    lifecycle, message, retry_at = ending(run.outcome, step, 1, target.engine)
    return AttemptEnd(
        target.ordinal,
        lifecycle,
        run.started,
        run.ended,
        message=message,
        result=result_of(run.outcome),
        messages=run.outcome.messages,
        next_attempt_start_time=retry_at,
        detail=detail_of(run.outcome, target.engine),
    )


def _start_lanes(
    store: JobStore,
    client: str,
    execution_id: str,
    step_id: int,
    waiting: dict[int, dt.datetime],
) -> None:
    """Start the retry lanes of targets that wait for their second attempt (the ones a cancel
    that came before their rows said so would not wake are cancelled instead)."""
    if not waiting:
        return
    if cancellations.requested(store, execution_id):
        store.cancel_targets(execution_id, step_id, sorted(waiting))
        return
    ref = StepRef(execution_id, step_id)
    for ordinal, retry_at in sorted(waiting.items()):
        answer = AttemptAnswer(Lifecycle.WAITING_FOR_RETRY.value, 1, retry_at.isoformat())
        lanes.start_retry_lane(client, TargetRun(ref, ordinal, 1, retry_lane=True), answer)


def _attempt_with_lane(run: TargetRun, document: dict[str, Any], client: str) -> AttemptAnswer:
    with slots.target_slots.slot(run.step.job_execution_id) as held:
        if not held:
            return _defer(run, client)
        with concurrency.slot():
            answer = run_attempt(run, document)
    if answer.retry_at and run.retry_lane:
        lanes.start_retry_lane(client, run, answer)
    return answer


def _defer(run: TargetRun, client: str) -> AttemptAnswer:
    """No target slot for the attempt's execution: nothing starts, and the caller's lane (or a
    retry lane started here) asks again shortly with the same attempt number."""
    waiting = Lifecycle.CREATED if run.attempt == 1 else Lifecycle.WAITING_FOR_RETRY
    answer = AttemptAnswer(
        waiting.value,
        run.attempt - 1,  # the lane asks for "attempt + 1"
        slots.deferred_until().isoformat(),
        deferred=True,
    )
    if not run.retry_lane:
        return answer
    lanes.start_retry_lane(client, run, answer)
    return dataclasses.replace(answer, retry_at=None)


def run_attempt(run: TargetRun, document: dict[str, Any]) -> AttemptAnswer:
    """One attempt on one target, recorded in the job database (blocking; see ``run_target``):
    one transaction to start it, one to record how it ended. ``document`` is the activity's
    input (its ``traceparent`` joins the attempt's span to the step's)."""
    store = job_store()
    execution_id, step_id = run.step.job_execution_id, run.step.step_id
    ordinal, number = run.ordinal, run.attempt
    try:
        start = store.start_target_attempt(execution_id, step_id, ordinal, number)
    except IllegalTransition:  # in no state to start (ended meanwhile): say where it is
        return _answer(store.get_target_execution(execution_id, step_id, ordinal))
    if start.outcome is not StartOutcome.STARTED:  # redelivered, cancelled or skipped
        return _answer(start.target)
    step = _step(store, execution_id, step_id)
    target = _started_target(start.target)
    began = utc_now()
    with cancellations.watch(execution_id) as cancel:
        outcome = _run(store, step, execution_id, start.execution_create_time, target, cancel)
    ended = utc_now()
    try:
        answer = _record(store, start.target, step, number, outcome)
    except IllegalTransition:  # the execution ended the target meanwhile (a cancel)
        answer = _answer(store.get_target_execution(execution_id, step_id, ordinal))
    telemetry.attempt_ended(
        document, start.target, step, number, outcome, began, ended, answer.lifecycle or ""
    )
    return answer


def _run(
    store: JobStore,
    step: JobStep,
    execution_id: str,
    create_time: dt.datetime,
    target: StartedTarget,
    cancel: threading.Event,
) -> odbc.ScriptOutcome:
    where = _where(target)
    try:
        auth = credential_auth(store, step.credential_name, where.engine)
    except SqlFleetError as error:
        return odbc.ScriptOutcome(error=f"signing in: {error}", sqlstate="28000")
    variables = _variables(step, execution_id, create_time, target)
    outcome = odbc.run_script(
        where,
        auth,
        step.command,
        timeout_seconds=step.step_timeout_seconds,
        max_rows=MAX_RESULT_ROWS,
        variables=variables,
        driver=settings().odbc_driver(where.engine),
        cancel=cancel,
        sqlite_folders=sqlite_folders(),
    )
    if outcome.succeeded and step.output is not None:
        index = step.output.result_set or 0
        chosen = outcome.result_set(index)
        if chosen is None and index:
            outcome.error = (
                f"writing the output table: the script returned {len(outcome.result_sets)} "
                f"result set(s); output.result_set {index} (0-based) names none of them"
            )
        elif chosen is not None and chosen.columns:
            try:
                _write_output(store, step, execution_id, chosen)
            except SqlFleetError as error:
                outcome.error = f"writing the output table: {error}"
    return outcome


def _where(target: StartedTarget) -> Target:
    return Target(
        target.engine or "sqlserver", target.server or "", target.port, target.database or ""
    )


def _variables(
    step: JobStep, execution_id: str, create_time: dt.datetime, target: StartedTarget
) -> dict[str, str]:
    """The script variables (verbatim and quoted) and parameters (literals) on ``target``."""
    builtins = script_variables(
        job_name=target.job_name,
        job_id=target.job_id,
        job_version=target.job_version,
        step_id=step.step_id,
        step_name=step.step_name,
        job_execution_id=execution_id,
        job_execution_create_time=create_time,
        target_group_name=step.target_group_name,
        target_server_name=target.server or "",
        target_database_name=target.database or "",
    )
    parameters = execution_parameters(execution_id, job_store().get_execution_parameters)
    return script_values(builtins, _where(target).engine, parameters)


def _started_target(row: TargetExecution) -> StartedTarget:
    """What running a script on the target of ``row`` needs to know."""
    assert row.target_ordinal is not None
    return StartedTarget(
        ordinal=row.target_ordinal,
        engine=row.target_engine.value if row.target_engine else None,
        server=row.target_server_name,
        port=row.target_port,
        database=row.target_database_name,
        job_name=row.job_name,
        job_id=row.job_id,
        job_version=row.job_version,
    )


def _write_output(
    store: JobStore, step: JobStep, execution_id: str, outcome: ResultSetOutcome
) -> None:
    output = step.output
    assert output is not None
    engine = output.engine.value
    auth = credential_auth(store, output.credential_name or step.credential_name, engine)
    odbc.write_output(
        Target(engine, output.server_name, output.port, output.database_name),
        auth,
        OutputTable(output.table_name, output.schema_name),
        outcome.columns,
        outcome.rows,
        execution_id,
        driver=settings().odbc_driver(engine),
        sqlite_folders=sqlite_folders(),
    )


def _record(
    store: JobStore,
    target: TargetExecution,
    step: JobStep,
    number: int,
    outcome: odbc.ScriptOutcome,
) -> AttemptAnswer:
    execution_id, step_id, ordinal = target.job_execution_id, step.step_id, target.target_ordinal
    assert ordinal is not None
    hide_secret_values(outcome, execution_id, store.get_execution_parameters)
    result = result_of(outcome)
    engine = target.target_engine.value if target.target_engine else None
    lifecycle, message, retry_at = ending(outcome, step, number, engine)
    done = store.finish_target_attempt(
        execution_id,
        step_id,
        ordinal,
        number,
        lifecycle,
        message=message,
        result=result,
        messages=outcome.messages,
        next_attempt_start_time=retry_at,
        detail=detail_of(outcome, engine),
    )
    if retry_at is None:
        return _answer(done)
    # A cancel wakes the orchestrations of targets it finds waiting; one that came before
    # this row said so would not: look once more, after writing.
    if cancellations.requested(store, execution_id):
        store.cancel_targets(execution_id, step_id, [ordinal])
        return AttemptAnswer(Lifecycle.CANCELED.value, number, canceled=True)
    return AttemptAnswer(done.lifecycle.value, number, retry_at.isoformat())


def _answer(row: Any) -> AttemptAnswer:
    waiting = row.lifecycle == Lifecycle.WAITING_FOR_RETRY and row.next_attempt_start_time
    return AttemptAnswer(
        row.lifecycle.value,
        row.current_attempts,
        row.next_attempt_start_time.isoformat() if waiting else None,
        canceled=row.lifecycle == Lifecycle.CANCELED,
    )


_steps_lock = threading.Lock()
_steps: dict[tuple[str, int], JobStep] = {}


def _step(store: JobStore, execution_id: str, step_id: int) -> JobStep:
    """The step as of the execution's job version (immutable, so cached per process)."""
    key = (execution_id, step_id)
    with _steps_lock:
        cached = _steps.get(key)
    if cached is None:
        version = store.get_execution_version(execution_id)
        cached = next(s for s in version.steps if s.step_id == step_id)
        with _steps_lock:
            if len(_steps) > 10_000:
                _steps.clear()
            _steps[key] = cached
    return cached


class _Concurrency:
    """The agent-wide cap on concurrent target connections of this host process
    (``SQLFLEET_MAX_CONCURRENT_TARGETS``, like the JA100 tier's 100)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: threading.BoundedSemaphore | None = None

    def slot(self) -> threading.BoundedSemaphore:
        """Hold one while an attempt runs (``with concurrency.slot():``)."""
        with self._lock:
            if self._slots is None:
                self._slots = threading.BoundedSemaphore(settings().max_concurrent_targets)
            return telemetry.slot(self._slots)  # type: ignore[return-value]


concurrency = _Concurrency()
local_chunks = threading.BoundedSemaphore(LOCAL_CHUNKS_AT_ONCE)


_script_processes_lock = threading.Lock()
_script_processes: ScriptProcesses | None = None


def script_processes() -> ScriptProcesses:
    """The processes that run this host's local scripts (``SQLFLEET_LOCAL_SCRIPT_PROCESSES``,
    each with threads enough for its share of ``LOCAL_CHUNKS_AT_ONCE``)."""
    global _script_processes
    with _script_processes_lock:
        if _script_processes is None:
            processes = max(1, settings().local_script_processes)
            _script_processes = ScriptProcesses(processes, -(-LOCAL_CHUNKS_AT_ONCE // processes))
        return _script_processes


def _script_processes_ready() -> bool:
    """Whether a script process can take a turn now (they start on the first local turn, which
    runs in this process meanwhile)."""
    return settings().local_script_processes > 0 and script_processes().ready()
