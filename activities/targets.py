"""``run_target``: one attempt of one step on one target database.

The activity decides the target's next state itself — Succeeded, WaitingForRetry (answering
when to retry; the orchestration sleeps on a durable timer), Failed, TimedOut, Skipped or
Canceled — and writes it to the job database before answering, so the API shows progress live.
A first attempt from a ``step_batch`` that must be retried gets its retry lane started here
(``orchestrators.fanout``), so that it waits its own backoff, not its batch's slowest target.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import azure.durable_functions as df

from activities import bp, odbc
from activities.connections import credential_auth
from activities.runtime import job_store, settings
from orchestrators import names
from sqlfleet.engines import OutputTable
from sqlfleet.errors import IllegalTransition, SqlFleetError
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models.executions import MAX_RESULT_ROWS, ResultSet, TargetExecution
from sqlfleet.models.jobs import JobStep
from sqlfleet.retries import retry_delay
from sqlfleet.scripts import script_variables
from sqlfleet.store import JobStore
from sqlfleet.targets import Target

logger = logging.getLogger("sqlfleet.activities")

# SQLSTATEs of a refused sign-in: retrying with the same secret cannot help.
_NOT_RETRYABLE_SQLSTATES = {"28000", "28P01"}


@bp.activity_trigger(input_name="attempt", activity=names.RUN_TARGET)
@bp.durable_client_input(client_name="client")
async def run_target(
    attempt: dict[str, Any], client: df.DurableOrchestrationClient
) -> dict[str, Any]:
    """Input ``{job_execution_id, step_id, ordinal, attempt, retry_lane?}``; answer
    ``{lifecycle, attempt}`` plus ``retry_at`` (ISO time) when the target waits for a retry,
    ``canceled`` when the execution was cancelled. With ``retry_lane`` the retry is not the
    caller's business: a retry lane orchestration is started for it here. Raises only when the
    job database or the task hub fails (the orchestration retries the activity).

    The attempt runs on the agent's own thread pool, whose size is the agent-wide cap on
    concurrent target connections (``SQLFLEET_MAX_CONCURRENT_TARGETS``)."""
    answer: dict[str, Any] = await concurrency.run(run_attempt, attempt)
    if answer.get("retry_at") and attempt.get("retry_lane"):
        await _start_retry_lane(client, attempt, answer)
    return answer


def run_attempt(attempt: dict[str, Any]) -> dict[str, Any]:
    """One attempt on one target, recorded in the job database (blocking; see ``run_target``)."""
    store = job_store()
    execution_id, step_id = attempt["job_execution_id"], int(attempt["step_id"])
    ordinal, number = int(attempt["ordinal"]), int(attempt["attempt"])
    target = store.get_target_execution(execution_id, step_id, ordinal)
    if target.lifecycle.is_terminal:  # redelivered after the work was recorded
        return _answer(target)
    if target.lifecycle == Lifecycle.WAITING_FOR_RETRY and target.current_attempts >= number:
        return _answer(target)  # redelivered after the failure was recorded
    if cancellations.requested(store, execution_id):
        store.cancel_targets(execution_id, step_id, [ordinal])
        return {"lifecycle": Lifecycle.CANCELED.value, "attempt": number, "canceled": True}
    if number == 1 and target.lifecycle == Lifecycle.CREATED:
        other = store.find_concurrent_target(execution_id, step_id, ordinal)
        if other:
            skipped = store.transition(
                execution_id,
                Lifecycle.SKIPPED,
                step_id=step_id,
                ordinal=ordinal,
                message=f"skipped: execution {other} is running this job step on this target",
            )
            return _answer(skipped)
    try:
        store.begin_target_attempt(execution_id, step_id, ordinal, number)
    except IllegalTransition:  # cancelled between the look above and now
        return _answer(store.get_target_execution(execution_id, step_id, ordinal))
    step = _step(store, execution_id, step_id)
    with cancellations.watch(execution_id) as cancel:
        outcome = _run(store, target, step, cancel)
    try:
        return _record(store, target, step, number, outcome)
    except IllegalTransition:  # the execution ended the target meanwhile (a cancel)
        return _answer(store.get_target_execution(execution_id, step_id, ordinal))


async def _start_retry_lane(
    client: df.DurableOrchestrationClient, attempt: dict[str, Any], answer: dict[str, Any]
) -> None:
    execution_id, step_id = attempt["job_execution_id"], int(attempt["step_id"])
    ordinal = int(attempt["ordinal"])
    instance_id = names.retry_instance_id(execution_id, step_id, ordinal)
    status = await client.get_status(instance_id)
    if status and getattr(status, "runtime_status", None):
        return  # started by an earlier delivery of this attempt
    await client.start_new(
        names.STEP_LANE,
        instance_id,
        {
            "job_execution_id": execution_id,
            "step_id": step_id,
            "next": ordinal,
            "stride": 1,
            "stop": ordinal + 1,
            "attempt": int(answer["attempt"]) + 1,
            "not_before": answer["retry_at"],
            "retry_lane": True,
        },
    )


def _run(
    store: JobStore, target: TargetExecution, step: JobStep, cancel: threading.Event
) -> odbc.ScriptOutcome:
    engine = str(target.target_engine.value if target.target_engine else "sqlserver")
    where = _target_of(target)
    try:
        auth = credential_auth(store, step.credential_name, engine)
    except SqlFleetError as error:
        return odbc.ScriptOutcome(error=f"signing in: {error}", sqlstate="28000")
    execution = store.get_job_execution(target.job_execution_id, include_targets=False)
    variables = script_variables(
        job_name=target.job_name,
        job_id=target.job_id,
        job_version=target.job_version,
        step_id=step.step_id,
        step_name=step.step_name,
        job_execution_id=target.job_execution_id,
        job_execution_create_time=execution.create_time,
        target_group_name=step.target_group_name,
        target_server_name=target.target_server_name or "",
        target_database_name=target.target_database_name or "",
    )
    outcome = odbc.run_script(
        where,
        auth,
        step.command,
        timeout_seconds=step.step_timeout_seconds,
        max_rows=MAX_RESULT_ROWS,
        variables=variables,
        driver=settings().odbc_driver(engine),
        cancel=cancel,
    )
    if outcome.succeeded and step.output is not None and outcome.columns:
        try:
            _write_output(store, step, target, outcome)
        except SqlFleetError as error:
            outcome.error = f"writing the output table: {error}"
    return outcome


def _write_output(
    store: JobStore, step: JobStep, target: TargetExecution, outcome: odbc.ScriptOutcome
) -> None:
    output = step.output
    assert output is not None and outcome.columns is not None
    engine = output.engine.value
    auth = credential_auth(store, output.credential_name or step.credential_name, engine)
    odbc.write_output(
        Target(engine, output.server_name, output.port, output.database_name),
        auth,
        OutputTable(output.table_name, output.schema_name),
        outcome.columns,
        outcome.rows,
        target.job_execution_id,
        driver=settings().odbc_driver(engine),
    )


def _record(
    store: JobStore,
    target: TargetExecution,
    step: JobStep,
    number: int,
    outcome: odbc.ScriptOutcome,
) -> dict[str, Any]:
    execution_id, step_id, ordinal = target.job_execution_id, step.step_id, target.target_ordinal
    assert ordinal is not None
    if outcome.messages:
        store.record_target_messages(execution_id, step_id, ordinal, number, outcome.messages)
    if outcome.columns is not None:
        result = ResultSet.bounded([(c.name, c.kind) for c in outcome.columns], outcome.rows)
        if outcome.truncated and not result.truncated:
            result = result.model_copy(update={"truncated": True})
        store.record_target_result(execution_id, step_id, ordinal, result)
    if outcome.succeeded:
        done = store.transition(
            execution_id,
            Lifecycle.SUCCEEDED,
            step_id=step_id,
            ordinal=ordinal,
            message=_success_message(outcome),
        )
        return _answer(done)
    if outcome.canceled:
        store.cancel_targets(execution_id, step_id, [ordinal], message=outcome.error or "canceled")
        return {"lifecycle": Lifecycle.CANCELED.value, "attempt": number, "canceled": True}
    if outcome.timed_out:
        done = store.transition(
            execution_id,
            Lifecycle.TIMED_OUT,
            step_id=step_id,
            ordinal=ordinal,
            message=outcome.error,
        )
        return _answer(done)
    retryable = outcome.sqlstate not in _NOT_RETRYABLE_SQLSTATES
    if retryable and number <= step.retry_attempts:
        delay = retry_delay(
            number,
            step.initial_retry_interval_seconds,
            step.retry_interval_backoff_multiplier,
            step.maximum_retry_interval_seconds,
        )
        retry_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=delay)
        store.transition(
            execution_id,
            Lifecycle.WAITING_FOR_RETRY,
            step_id=step_id,
            ordinal=ordinal,
            message=outcome.error,
            next_attempt_start_time=retry_at,
        )
        # A cancel wakes the orchestrations of targets it finds waiting; one that came before
        # this row said so would not: look once more, after writing.
        if cancellations.requested(store, execution_id):
            store.cancel_targets(execution_id, step_id, [ordinal])
            return {"lifecycle": Lifecycle.CANCELED.value, "attempt": number, "canceled": True}
        return {
            "lifecycle": Lifecycle.WAITING_FOR_RETRY.value,
            "attempt": number,
            "retry_at": retry_at.isoformat(),
        }
    done = store.transition(
        execution_id, Lifecycle.FAILED, step_id=step_id, ordinal=ordinal, message=outcome.error
    )
    return _answer(done)


def _answer(row: Any) -> dict[str, Any]:
    answer = {"lifecycle": row.lifecycle.value, "attempt": row.current_attempts}
    if row.lifecycle == Lifecycle.CANCELED:
        answer["canceled"] = True
    if row.lifecycle == Lifecycle.WAITING_FOR_RETRY and row.next_attempt_start_time:
        answer["retry_at"] = row.next_attempt_start_time.isoformat()
    return answer


def _success_message(outcome: odbc.ScriptOutcome) -> str:
    rows = f"; {len(outcome.rows)} row(s)" if outcome.columns is not None else ""
    return f"succeeded in {outcome.elapsed_seconds:.2f} s{rows}"


def _target_of(target: TargetExecution) -> Target:
    engine = str(target.target_engine.value if target.target_engine else "sqlserver")
    return Target(
        engine,
        target.target_server_name or "",
        target.target_port,
        target.target_database_name or "",
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
    (``SQLFLEET_MAX_CONCURRENT_TARGETS``, like the JA100 tier's 100): attempts run on a thread
    pool of that size, so that neither the Functions worker's small default pool nor its event
    loop bounds or blocks them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def run(self, function: Callable[[Any], Any], argument: Any) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=settings().max_concurrent_targets,
                    thread_name_prefix="sqlfleet-target",
                )
            pool = self._pool
        return await asyncio.get_running_loop().run_in_executor(pool, function, argument)


class _Cancellations:
    """Lets running scripts notice a cancel within about a second: one watcher thread polls the
    job database for the executions that have scripts running in this process."""

    POLL_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, list[threading.Event]] = {}
        self._thread: threading.Thread | None = None

    def requested(self, store: JobStore, execution_id: str) -> bool:
        return store.get_job_execution(execution_id, include_targets=False).cancel_requested

    @contextmanager
    def watch(self, execution_id: str) -> Iterator[threading.Event]:
        event = threading.Event()
        with self._lock:
            self._running.setdefault(execution_id, []).append(event)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._poll, name="sqlfleet-cancel-watch", daemon=True
                )
                self._thread.start()
        try:
            yield event
        finally:
            with self._lock:
                events = self._running.get(execution_id, [])
                if event in events:
                    events.remove(event)
                if not events:
                    self._running.pop(execution_id, None)

    def _poll(self) -> None:
        stop = threading.Event()
        while True:
            stop.wait(self.POLL_SECONDS)
            with self._lock:
                watched = list(self._running)
                if not watched:
                    self._thread = None
                    return
            for execution_id in watched:
                try:
                    requested = self.requested(job_store(), execution_id)
                except Exception:  # noqa: BLE001 - the job database may be down for a while
                    logger.debug("cancel watch: job database unavailable", exc_info=True)
                    continue
                if requested:
                    with self._lock:
                        for event in self._running.get(execution_id, []):
                            event.set()


concurrency = _Concurrency()
cancellations = _Cancellations()
