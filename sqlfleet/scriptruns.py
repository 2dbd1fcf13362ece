"""Running a step's script on its targets (blocking; in this process or a script process).

``ScriptRunner`` (one per host process: ``script_runner``) holds what the target activities of a
process share: the steps of executions (immutable, so cached), the agent-wide cap on concurrent
target connections (``SQLFLEET_MAX_CONCURRENT_TARGETS``, like the JA100 tier's 100), the cap on
local chunks running at once, and the script processes (``sqlfleet.scriptprocesses``) that run
local turns. It runs scripts and writes output tables; how an attempt then ends, and what the
job database records, is ``sqlfleet.targetruns``'s business.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Sequence

from sqlfleet import odbc, telemetry
from sqlfleet.connections import credential_auth
from sqlfleet.dialects import OutputTable
from sqlfleet.errors import SqlFleetError
from sqlfleet.models.executions import MAX_RESULT_ROWS
from sqlfleet.models.jobs import JobStep
from sqlfleet.outcomes import ResultSetOutcome, ScriptOutcome
from sqlfleet.parametervalues import execution_parameters
from sqlfleet.runtime import job_store, settings, sqlite_folders
from sqlfleet.scriptprocesses import ScriptCall, ScriptProcesses, ScriptRun
from sqlfleet.scripts import named_variables, script_values, script_variables
from sqlfleet.signin import ConnectionAuth
from sqlfleet.store import JobStore
from sqlfleet.targets import StartedTarget, Target

# Local chunks (SQLite files on this host) use this host's CPU and disk, and beyond a few per
# core more of them only add contention for the interpreter lock and the driver's connect lock
# (bench/fleet.py on 2 cores, 1,000 databases: 770-950 targets/s with 10 at once, 720-880
# with 4, 350-690 with 32 chunks of 20 and no cap).
LOCAL_CHUNKS_AT_ONCE = 5 * (os.cpu_count() or 1)
STEPS_CACHED = 10_000


class ScriptRunner:
    """Runs scripts on targets for the activities of one host process (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[tuple[str, int], JobStep] = {}
        self._connections: threading.BoundedSemaphore | None = None
        self._processes: ScriptProcesses | None = None
        self.local_chunks = threading.BoundedSemaphore(LOCAL_CHUNKS_AT_ONCE)
        # Seconds per target the last turn of each step (job, version, step, local) took here.
        self._paces: dict[tuple[str, int, int, bool], float] = {}

    def step(self, store: JobStore, execution_id: str, step_id: int) -> JobStep:
        """The step as of the execution's job version. Raises ``NotFound``."""
        key = (execution_id, step_id)
        with self._lock:
            cached = self._steps.get(key)
        if cached is None:
            version = store.get_execution_version(execution_id)
            cached = next(s for s in version.steps if s.step_id == step_id)
            with self._lock:
                if len(self._steps) >= STEPS_CACHED:
                    self._steps.clear()
                self._steps[key] = cached
        return cached

    def remember_steps(self, execution_id: str, steps: Sequence[JobStep]) -> None:
        """Keep the steps of the execution's job version, read by whoever began it: its chunks
        then start without reading them again (each chunk at once, all at the lock)."""
        with self._lock:
            if len(self._steps) + len(steps) > STEPS_CACHED:
                self._steps.clear()
            for step in steps:
                self._steps[(execution_id, step.step_id or 0)] = step

    def pace(self, step: JobStep, local: bool) -> float | None:
        """Seconds per target of the step's last turn in this process, None before its first."""
        with self._lock:
            return self._paces.get((step.job_name, step.job_version, step.step_id, local))

    def remember_pace(self, step: JobStep, local: bool, seconds: float) -> None:
        with self._lock:
            if len(self._paces) >= STEPS_CACHED:
                self._paces.clear()
            self._paces[(step.job_name, step.job_version, step.step_id, local)] = seconds

    def connection_slot(self) -> threading.BoundedSemaphore:
        """One of the agent-wide connection slots: hold it while scripts run (``with``)."""
        with self._lock:
            if self._connections is None:
                self._connections = threading.BoundedSemaphore(settings().max_concurrent_targets)
            return telemetry.slot(self._connections)  # type: ignore[return-value]

    def run(
        self,
        store: JobStore,
        step: JobStep,
        execution_id: str,
        create_time: dt.datetime,
        target: StartedTarget,
        cancel: threading.Event,
        signed_in: dict[str, ConnectionAuth | SqlFleetError] | None = None,
    ) -> ScriptOutcome:
        """The step's script on ``target`` in this process, then its output table if the
        step writes one. Never raises for what the target does: the outcome says it.
        ``signed_in`` keeps the sign-in of each engine for the next targets of a turn."""
        where = target.target
        signed_in = {} if signed_in is None else signed_in
        if where.engine not in signed_in:
            signed_in[where.engine] = _sign_in(store, step, where.engine)
        auth = signed_in[where.engine]
        if isinstance(auth, SqlFleetError):
            return ScriptOutcome(error=f"signing in: {auth}", sqlstate="28000")
        outcome = odbc.run_script(
            where,
            auth,
            step.command,
            timeout_seconds=step.step_timeout_seconds,
            max_rows=MAX_RESULT_ROWS,
            variables=self._variables(step, execution_id, create_time, target),
            driver=settings().odbc_driver(where.engine),
            cancel=cancel,
            sqlite_folders=sqlite_folders(),
        )
        if outcome.succeeded and step.output is not None:
            self._write_chosen_output(store, step, execution_id, outcome)
        return outcome

    def run_turn(
        self,
        store: JobStore,
        step: JobStep,
        execution_id: str,
        create_time: dt.datetime,
        targets: Sequence[StartedTarget],
        cancel: threading.Event,
        *,
        local: bool,
    ) -> tuple[list[ScriptRun], bool]:
        """The scripts of a chunk's turn (one after the other, or side by side on a script
        process's idle threads), and whether they ran in a script process: a local turn does
        when the processes are up and the step writes no output table (a local chunk's targets
        share one engine, so one sign-in and one driver); otherwise here. A run's outcome is
        None when a cancel came before its target's turn."""
        if local and targets and step.output is None and self._processes_ready():
            runs = self._run_far(store, step, execution_id, create_time, targets, cancel)
            if runs is not None:
                return runs, True
        signed_in: dict[str, ConnectionAuth | SqlFleetError] = {}  # once per turn
        return [
            self._run_here(store, step, execution_id, create_time, target, cancel, signed_in)
            for target in targets
        ], False

    def _run_here(
        self,
        store: JobStore,
        step: JobStep,
        execution_id: str,
        create_time: dt.datetime,
        target: StartedTarget,
        cancel: threading.Event,
        signed_in: dict[str, ConnectionAuth | SqlFleetError],
    ) -> ScriptRun:
        started = store.now()
        if cancel.is_set():
            return ScriptRun(started, started, None)
        with self.connection_slot():
            outcome = self.run(store, step, execution_id, create_time, target, cancel, signed_in)
        return ScriptRun(started, store.now(), outcome)

    def _run_far(
        self,
        store: JobStore,
        step: JobStep,
        execution_id: str,
        create_time: dt.datetime,
        targets: Sequence[StartedTarget],
        cancel: threading.Event,
    ) -> list[ScriptRun] | None:
        engine = targets[0].target.engine
        auth = _sign_in(store, step, engine)
        if isinstance(auth, SqlFleetError):  # every target fails: run_here says so for each
            return None
        driver, folders = settings().odbc_driver(engine), sqlite_folders()
        calls = [
            ScriptCall(
                target=target.target,
                auth=auth,
                script=step.command,
                timeout_seconds=step.step_timeout_seconds,
                max_rows=MAX_RESULT_ROWS,
                variables=self._variables(step, execution_id, create_time, target),
                driver=driver,
                sqlite_folders=folders,
            )
            for target in targets
        ]
        with self.connection_slot():
            return self.processes().run(calls, cancel)

    def _variables(
        self, step: JobStep, execution_id: str, create_time: dt.datetime, target: StartedTarget
    ) -> dict[str, str]:
        """The script variables (verbatim and quoted) and parameters (literals) on ``target``
        that the step's script names: none for a script without ``$(...)`` tokens."""
        named = named_variables(step.command)
        if not named:
            return {}
        builtins = script_variables(
            job_name=target.job_name,
            job_id=target.job_id,
            job_version=target.job_version,
            step_id=step.step_id,
            step_name=step.step_name,
            job_execution_id=execution_id,
            job_execution_create_time=create_time,
            target_group_name=step.target_group_name,
            target_server_name=target.target.server,
            target_database_name=target.target.database,
        )
        parameters = execution_parameters(execution_id, job_store().get_execution_parameters)
        values = script_values(builtins, target.target.engine, parameters)
        return {name: value for name, value in values.items() if name.lower() in named}

    def _write_chosen_output(
        self, store: JobStore, step: JobStep, execution_id: str, outcome: ScriptOutcome
    ) -> None:
        """Write the result set the step's output names to its table; a failure becomes the
        outcome's error."""
        assert step.output is not None
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

    def processes(self) -> ScriptProcesses:
        """The processes that run this host's local scripts (``SQLFLEET_LOCAL_SCRIPT_PROCESSES``,
        each with threads enough for its share of ``LOCAL_CHUNKS_AT_ONCE``)."""
        with self._lock:
            if self._processes is None:
                count = max(1, settings().local_script_processes)
                self._processes = ScriptProcesses(count, -(-LOCAL_CHUNKS_AT_ONCE // count))
            return self._processes

    def _processes_ready(self) -> bool:
        """Whether a script process can take a turn now (they start on the first local turn,
        which runs in this process meanwhile)."""
        return settings().local_script_processes > 0 and self.processes().ready()


def _sign_in(store: JobStore, step: JobStep, engine: str) -> ConnectionAuth | SqlFleetError:
    """The sign-in of ``step``'s credential on an ``engine`` target, or why there is none."""
    try:
        return credential_auth(store, step.credential_name, engine)
    except SqlFleetError as error:
        return error


def _write_output(
    store: JobStore, step: JobStep, execution_id: str, outcome: ResultSetOutcome
) -> None:
    output = step.output
    assert output is not None
    engine = output.engine
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


script_runner = ScriptRunner()
