"""The engine's work loops: orchestration episodes, activities, timers and entity batches.

Every unit of work reads its rows, runs without holding the store, and lands in one
transaction. :meth:`Worker.process_next` runs one unit in the calling thread (tests step the
engine with it); :meth:`Worker.start` runs the same units on background threads:

* a dispatcher claims runnable instances and entities (one episode or batch at a time each) for a
  pool of ``max_concurrent_orchestrations`` threads;
* a feeder hands activity rows to a pool of ``max_concurrent_activities`` threads, whose results
  a flusher commits in batches, so a fan-in of N completions costs a few transactions, and
  keeps what the store refuses (a full disk) until it takes it (:mod:`devhost.results`);
* a timer thread fires due timers.

What runs in this process is tracked in memory only, so after a crash every row simply runs again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from devhost import history as h
from devhost.catalog import FunctionCatalog
from devhost.durablehttp import DEFAULT_ASYNC_SLEEP_MS, HTTP_ACTIVITY
from devhost.entities import ENTITY_BATCH_LIMIT, EntityBatchRunner
from devhost.executor import (
    CachedWalk,
    EpisodeExecutor,
    EpisodeOutcome,
    WalkCache,
    episode_instance,
)
from devhost.httpactivity import HttpActivityFailed, run_http_activity
from devhost.hubstore import InstanceChanged, TaskHubStore
from devhost.logs import log_durable_invocation
from devhost.results import ActivityResults
from devhost.taskhub import Clock, DurableFunctions
from devhost.workitems import (
    ActivityRow,
    ActivityWork,
    Delivery,
    EntityWork,
    EpisodeCommit,
    InstanceRecord,
    NewInstance,
    SubOrchestrationWork,
    TimerWork,
)

TIMER_BATCH = 1000
IDLE_POLL_SECONDS = 1.0
ERROR_BACKOFF_SECONDS = 2.0


class Worker:
    """Runs a task hub's work: stepped by :meth:`process_next` or on threads after :meth:`start`."""

    def __init__(
        self,
        store: TaskHubStore,
        functions: DurableFunctions,
        clock: Clock,
        *,
        max_concurrent_activities: int,
        max_concurrent_orchestrations: int,
        logger: logging.Logger,
        default_version: str = "",
        http_async_sleep_ms: int = DEFAULT_ASYNC_SLEEP_MS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.index = FunctionCatalog(functions)
        self.executor = EpisodeExecutor(
            self.index, default_version, http_async_sleep_ms=http_async_sleep_ms
        )
        self.entities = EntityBatchRunner(self.index)
        self.cache = WalkCache()
        self.log = logger
        self.max_activities = max(1, max_concurrent_activities)
        self.max_orchestrations = max(1, max_concurrent_orchestrations)
        self._lock = threading.Lock()
        self._busy_instances: set[str] = set()
        self._busy_entities: set[str] = set()
        self._backoff: dict[str, float] = {}
        self._activity_watermark = 0
        self._activities_in_flight = 0
        self._stop = threading.Event()
        self._wake_dispatcher = threading.Event()
        self._wake_feeder = threading.Event()
        self._wake_timers = threading.Event()
        self._results = ActivityResults(store, logger, self._wake_dispatcher.set)
        self._threads: list[threading.Thread] = []
        self._orchestration_pool: ThreadPoolExecutor | None = None
        self._activity_pool: ThreadPoolExecutor | None = None

    # -- stepping ------------------------------------------------------------------------------

    def process_next(self) -> bool:
        """One unit of work in this thread: due timers, else an activity, an entity batch or an
        episode. Activities and entities go first so an episode folds every completion they made."""
        if self.fire_due_timers():
            return True
        if self._run_one_activity():
            return True
        entity_id = self._claim(self.store.ready_entities, self._busy_entities)
        if entity_id is not None:
            self._release_after(self._busy_entities, entity_id, self.run_entity_batch)
            return True
        instance_id = self._claim(self.store.ready_instances, self._busy_instances)
        if instance_id is not None:
            self._release_after(self._busy_instances, instance_id, self.run_episode)
            return True
        return False

    def _claim(self, ready: Callable[[int, set[str]], list[str]], busy: set[str]) -> str | None:
        with self._lock:
            exclude = busy | self._backing_off()
            found = ready(1, exclude)
            if found:
                busy.add(found[0])
                return found[0]
        return None

    def _release_after(self, busy: set[str], key: str, run: Callable[[str], None]) -> None:
        try:
            run(key)
        finally:
            with self._lock:
                busy.discard(key)
            self._wake_dispatcher.set()

    def _run_one_activity(self) -> bool:
        with self._lock:
            rows = self.store.next_activities(self._activity_watermark, 1)
            if not rows:
                return False
            self._activity_watermark = rows[0].id
        self.store.deliver([self.execute_activity(rows[0])])
        return True

    def _backing_off(self) -> set[str]:
        now = time.monotonic()
        for key in [k for k, until in self._backoff.items() if until <= now]:
            del self._backoff[key]
        return set(self._backoff)

    # -- units of work -------------------------------------------------------------------------

    def run_episode(self, instance_id: str) -> None:
        record, rows = self.store.read_inbox(instance_id)
        if record is None or record.status.is_terminal:
            return
        stale: list[int] = []
        inbox: list[tuple[int, h.Event]] = []
        for row in rows:
            if row.execution_id is not None and row.execution_id != record.execution_id:
                stale.append(row.id)  # e.g. a completion for an execution that continued-as-new
            else:
                inbox.append((row.id, h.loads(row.event)))
        instance = episode_instance(record)
        now = self.clock.now()
        started = time.perf_counter()
        outcome: EpisodeOutcome | None = None
        walk = self.cache.take(instance_id, record.execution_id, record.history_count)
        if walk is not None and inbox:
            outcome = self.executor.fold(instance, inbox, now, walk)
        if outcome is None:
            outcome = self.executor.replay(
                instance, inbox, now, self.store.load_history(instance_id) if inbox else []
            )
        commit = self._episode_commit(record, outcome, stale, now)
        try:
            self.store.commit_episode(commit)
        except InstanceChanged:
            self.log.debug("instance %s changed during its episode; discarded", instance_id)
            return
        if outcome.walk is not None and outcome.sdk_waiting and outcome.new_execution is None:
            count = record.history_count + len(commit.appended)
            self.cache.put(instance_id, CachedWalk(outcome.walk, record.execution_id, count))
        if outcome.invoked:
            log_durable_invocation(
                record.name, instance_id, started, failed=outcome.failure is not None
            )
        else:
            self.log.debug("folded %d events into %s without a replay", len(inbox), instance_id)
        if commit.activities:
            self._wake_feeder.set()
        if commit.timers:
            self._wake_timers.set()
        if commit.children or commit.deliveries or commit.entity_messages or commit.new_execution:
            self._wake_dispatcher.set()

    def _episode_commit(
        self, record: InstanceRecord, outcome: EpisodeOutcome, stale: list[int], now: dt.datetime
    ) -> EpisodeCommit:
        commit = EpisodeCommit(
            instance_id=record.instance_id,
            execution_id=record.execution_id,
            history_count=record.history_count,
            consumed=[*outcome.consumed, *stale],
            appended=[h.dumps(event) for event in outcome.history],
            status=outcome.status,
            now=now,
            cancel_timers=outcome.cancel_timers,
        )
        if outcome.status.is_terminal:
            commit.output, commit.set_output = outcome.output, True
        if outcome.custom_status_changed:
            commit.custom_status, commit.set_custom_status = outcome.custom_status, True
        for work in outcome.work:
            if isinstance(work, ActivityWork):
                commit.activities.append((work.task_id, work.name, work.input))
            elif isinstance(work, TimerWork):
                commit.timers.append((work.timer_id, h.format_timestamp(work.fire_at)))
            elif isinstance(work, SubOrchestrationWork):
                commit.children.append(self._child(record, work, now))
            elif isinstance(work, EntityWork):
                commit.entity_messages.append((work.entity_id, json.dumps(work.message)))
        if outcome.parent_event is not None and record.parent_instance_id is not None:
            commit.deliveries.append(
                Delivery(
                    record.parent_instance_id,
                    record.parent_execution_id,
                    h.dumps(outcome.parent_event),
                )
            )
        if outcome.new_execution is not None:
            new = outcome.new_execution
            events = [h.dumps(new.started), *(h.dumps(e) for e in new.carried)]
            commit.new_execution = (new.execution_id, new.input, events)
            commit.output, commit.set_output = None, True
            commit.custom_status, commit.set_custom_status = None, True
            self.cache.drop(record.instance_id)
        return commit

    @staticmethod
    def _child(record: InstanceRecord, work: SubOrchestrationWork, now: dt.datetime) -> NewInstance:
        execution_id = uuid.uuid4().hex
        parent = h.parent_instance(
            record.name, record.instance_id, record.execution_id, work.task_id, record.version
        )
        started = h.execution_started(
            now,
            instance_id=work.instance_id,
            execution_id=execution_id,
            name=work.name,
            version=work.version,
            input_json=work.input,
            parent=parent,
        )
        conflict = h.sub_orchestration_failed(
            now,
            work.task_id,
            f"An Orchestration instance with the ID '{work.instance_id}' already exists.",
            None,
        )
        return NewInstance(
            instance_id=work.instance_id,
            execution_id=execution_id,
            name=work.name,
            version=work.version,
            input=work.input,
            started_event=h.dumps(started),
            created_time=now,
            parent_instance_id=record.instance_id,
            parent_execution_id=record.execution_id,
            parent_task_id=work.task_id,
            conflict_event=h.dumps(conflict),
        )

    def execute_activity(self, row: ActivityRow) -> Delivery:
        """Run one activity; the user's exception becomes TaskFailed (reference §3.3)."""
        if row.name == HTTP_ACTIVITY:
            return self.execute_http(row)
        found = self.index.activity(row.name)
        name = found[0] if found else row.name
        invocation_id = str(uuid.uuid4())
        started = time.perf_counter()
        self.log.debug(
            "Executing 'Functions.%s' (Id=%s, instance=%s)", name, invocation_id, row.instance_id
        )
        try:
            if found is None:
                raise LookupError(self.index.missing("activity", row.name))
            result = found[1](row.input)
            if result is not None and not isinstance(result, str):
                raise TypeError(f"the activity invoker returned {type(result).__name__}, not text")
            event = h.task_completed(self.clock.now(), row.task_id, result)
            failed = False
        except Exception as exc:
            reason, details = h.activity_failure(name, exc)
            event = h.task_failed(self.clock.now(), row.task_id, reason, details)
            failed = True
        log_durable_invocation(name, invocation_id, started, failed=failed)
        return Delivery(row.instance_id, row.execution_id, h.dumps(event), activity_row=row.id)

    def execute_http(self, row: ActivityRow) -> Delivery:
        """The built-in activity of ``call_http`` (not a function of the app, so no invocation
        log): the answer, or the extension's TaskFailed when none came."""
        try:
            event = h.task_completed(self.clock.now(), row.task_id, run_http_activity(row.input))
        except HttpActivityFailed as failed:
            event = h.task_failed(self.clock.now(), row.task_id, failed.reason, failed.details)
        except Exception as exc:  # a devhost bug fails the call, not the worker
            self.log.exception("durable HTTP request of %s failed in devhost", row.instance_id)
            reason, details = h.activity_failure(HTTP_ACTIVITY, exc)
            event = h.task_failed(self.clock.now(), row.task_id, reason, details)
        self.log.debug(
            "durable HTTP request of %s (task %d): %s",
            row.instance_id,
            row.task_id,
            "answered" if event["EventType"] == h.EventType.TASK_COMPLETED else event["Reason"],
        )
        return Delivery(row.instance_id, row.execution_id, h.dumps(event), activity_row=row.id)

    def fire_due_timers(self) -> bool:
        now = self.clock.now()
        due = self.store.due_timers(now, TIMER_BATCH)
        if not due:
            return False
        self.store.deliver(
            [
                Delivery(
                    t.instance_id,
                    t.execution_id,
                    h.dumps(h.timer_fired(now, t.timer_id, t.fire_at)),
                    timer_row=t.id,
                )
                for t in due
            ]
        )
        self._wake_dispatcher.set()
        return True

    def run_entity_batch(self, entity_id: str) -> None:
        record, rows = self.store.read_entity_inbox(entity_id, ENTITY_BATCH_LIMIT)
        if not rows:
            return
        now = self.clock.now()
        messages = [json.loads(text) for _, text in rows]
        outcome = self.entities.run(entity_id, record, messages, now)
        deliveries = [
            Delivery(r.instance_id, r.execution_id, h.dumps(r.event)) for r in outcome.responses
        ]
        self.store.commit_entity_batch(
            entity_id,
            [row_id for row_id, _ in rows],
            outcome.exists,
            outcome.state,
            now,
            deliveries,
        )
        if deliveries:
            self._wake_dispatcher.set()

    # -- background mode -----------------------------------------------------------------------

    def notify(self) -> None:
        """Something was enqueued from outside (a client call): look for runnable work."""
        self._wake_dispatcher.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._orchestration_pool = ThreadPoolExecutor(
            self.max_orchestrations, thread_name_prefix="devhost-orchestration"
        )
        self._activity_pool = ThreadPoolExecutor(
            self.max_activities, thread_name_prefix="devhost-activity"
        )
        for target, name in (
            (self._dispatch_loop, "devhost-dispatcher"),
            (self._feed_loop, "devhost-activity-feeder"),
            (self._timer_loop, "devhost-timers"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._results.start()

    def stop(self) -> None:
        if not self._threads:
            return
        self._stop.set()
        for event in (self._wake_dispatcher, self._wake_feeder, self._wake_timers):
            event.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        for pool in (self._orchestration_pool, self._activity_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._results.stop()
        with self._lock:
            # Work handed out but cancelled before it ran is found again on the next start.
            self._activity_watermark = 0
            self._activities_in_flight = 0
            self._busy_instances.clear()
            self._busy_entities.clear()

    def _loop(self, wake: threading.Event, step: Callable[[], float | None]) -> None:
        while not self._stop.is_set():
            wake.clear()
            try:
                wait = step()
            except Exception:
                self.log.exception("devhost worker loop failed; retrying")
                wait = ERROR_BACKOFF_SECONDS
            if wait is not None:
                wake.wait(wait)

    def _dispatch_loop(self) -> None:
        self._loop(self._wake_dispatcher, self._dispatch_step)

    def _dispatch_step(self) -> float | None:
        assert self._orchestration_pool is not None
        with self._lock:
            free = self.max_orchestrations - len(self._busy_instances) - len(self._busy_entities)
            if free <= 0:
                return IDLE_POLL_SECONDS
            backing_off = self._backing_off()
            instances = self.store.ready_instances(free, self._busy_instances | backing_off)
            self._busy_instances.update(instances)
            entities = self.store.ready_entities(
                free - len(instances), self._busy_entities | backing_off
            )
            self._busy_entities.update(entities)
        for instance_id in instances:
            self._orchestration_pool.submit(
                self._guarded, self._busy_instances, instance_id, self.run_episode
            )
        for entity_id in entities:
            self._orchestration_pool.submit(
                self._guarded, self._busy_entities, entity_id, self.run_entity_batch
            )
        return None if instances or entities else IDLE_POLL_SECONDS

    def _guarded(self, busy: set[str], key: str, run: Callable[[str], None]) -> None:
        try:
            self._release_after(busy, key, run)
        except Exception:
            self.log.exception("work on %s failed; retrying in %ss", key, ERROR_BACKOFF_SECONDS)
            self.cache.drop(key)
            with self._lock:
                self._backoff[key] = time.monotonic() + ERROR_BACKOFF_SECONDS

    def _feed_loop(self) -> None:
        self._loop(self._wake_feeder, self._feed_step)

    def _feed_step(self) -> float | None:
        assert self._activity_pool is not None
        with self._lock:
            free = self.max_activities - self._activities_in_flight
            if free <= 0:
                return IDLE_POLL_SECONDS
            rows = self.store.next_activities(self._activity_watermark, free)
            if rows:
                self._activity_watermark = rows[-1].id
                self._activities_in_flight += len(rows)
        for row in rows:
            self._activity_pool.submit(self._activity_task, row)
        return None if rows else IDLE_POLL_SECONDS

    def _activity_task(self, row: ActivityRow) -> None:
        try:
            self._results.put(self.execute_activity(row))
        finally:
            with self._lock:
                self._activities_in_flight -= 1
            self._wake_feeder.set()

    def _timer_loop(self) -> None:
        self._loop(self._wake_timers, self._timer_step)

    def wake_timers(self) -> None:
        self._wake_timers.set()

    def _timer_step(self) -> float | None:
        if self.fire_due_timers():
            return None
        next_at = self.store.next_timer_at()
        if next_at is None:
            return IDLE_POLL_SECONDS
        seconds = (next_at - self.clock.now()).total_seconds()
        return min(max(seconds, 0.001), IDLE_POLL_SECONDS)
