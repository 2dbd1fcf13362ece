"""``sqlfleet.changes``: long-polls for an end (``until=ended``) wake for the writes that end
something, not for each target's write on the way, each of which would cost them a read."""

from __future__ import annotations

import asyncio
import threading

from sqlfleet import changes
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import TargetSpec
from sqlfleet.store import SqlJobStore

L = Lifecycle


def test_an_end_waiter_sleeps_through_other_writes_and_wakes_at_an_end() -> None:
    async def scenario() -> None:
        seen = changes.generation(endings=True)
        changes.changed()
        assert not await changes.next_change(seen, 0.01, endings=True)
        waiting = asyncio.ensure_future(changes.next_change(seen, 30, endings=True))
        await asyncio.sleep(0)  # let it register
        plain = threading.Thread(target=changes.changed)
        plain.start()
        plain.join()
        for _ in range(10):  # a wake would take two turns of the loop to finish the task
            await asyncio.sleep(0)
        assert not waiting.done(), "a write that ended nothing woke an end waiter"
        ending = threading.Thread(target=lambda: changes.changed(ended=True))
        ending.start()
        ending.join()
        assert await asyncio.wait_for(waiting, 5) is True
        assert changes.generation(endings=True) == seen + 1

    asyncio.run(scenario())


def test_every_waiter_wakes_for_any_write() -> None:
    async def scenario() -> None:
        seen = changes.generation()
        waiting = asyncio.ensure_future(changes.next_change(seen, 30))
        await asyncio.sleep(0)
        writer = threading.Thread(target=changes.changed)
        writer.start()
        writer.join()
        assert await asyncio.wait_for(waiting, 5) is True

    asyncio.run(scenario())


def test_target_writes_end_nothing_an_executions_end_does(store: SqlJobStore, job: str) -> None:
    endings = changes.generation(endings=True)
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    store.transition(execution_id, L.WAITING_FOR_CHILD_JOB_EXECUTIONS, step_id=1)
    spec = TargetSpec(target_type="database", server_name=execution_id, database_name="d")
    store.create_target_rows(execution_id, 1, [spec])
    store.start_target_attempt(execution_id, 1, 0, 1)
    store.finish_target_attempt(execution_id, 1, 0, 1, L.SUCCEEDED)
    assert changes.generation(endings=True) == endings
    store.finish_step(execution_id, 1, last=True)
    assert changes.generation(endings=True) == endings + 1
    assert store.execution_is_active(execution_id) is False


def test_a_cancel_that_ends_an_execution_wakes_end_waiters(store: SqlJobStore, job: str) -> None:
    execution_id = store.create_job_execution(job).job_execution_id
    store.transition(execution_id, L.IN_PROGRESS)
    endings = changes.generation(endings=True)
    store.end_job_execution(execution_id, L.CANCELED, "canceled")
    assert changes.generation(endings=True) == endings + 1
    assert store.execution_is_active(execution_id) is False
