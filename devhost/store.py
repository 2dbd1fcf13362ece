"""The task hub store: every durable fact of the local host, in SQLite (WAL).

:class:`TaskHubStore` (declared with the records it exchanges in :mod:`devhost.workitems`) is the
persistence seam of the engine and :class:`SqliteTaskHubStore` its only implementation (and the
devhost's only ``sqlite3`` user); ``":memory:"`` is the same class on an in-memory database.
Each method is one transaction, so a process killed at any point leaves either the state before
or after a transition. Work items are rows: an orchestration is runnable while its ``inbox``
holds events, an activity is owed while its ``activities`` row exists, a timer while its
``timers`` row exists. Which in-flight rows this process already runs is the worker's memory,
never the database, so after a crash everything that was in flight simply runs again.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from devhost.history import format_timestamp, parse_timestamp
from devhost.hubfile import first_line, open_hub_file
from devhost.hubstore import InstanceChanged, TaskHubDamaged, TaskHubStore
from devhost.taskhub import InstanceExists, InstanceQuery, RuntimeStatus
from devhost.workitems import (
    ActivityRow,
    Delivery,
    EntityRecord,
    EpisodeCommit,
    InboxRow,
    InstanceRecord,
    NewInstance,
    TimerRow,
    decode_page_token,
    encode_page_token,
)

__all__ = ["SqliteTaskHubStore", "TaskHubStore"]

TERMINAL = tuple(s.value for s in RuntimeStatus if s.is_terminal)
LIVE_STATUSES = frozenset(s for s in RuntimeStatus if not s.is_terminal)
_CHUNK = 500

_SCHEMA = Path(__file__).with_name("store_schema.sql").read_text()

_INSERT_INBOX = "INSERT INTO inbox (instance_id, execution_id, control, event) VALUES (?, ?, ?, ?)"
_INSTANCE_COLUMNS = (
    "instance_id, execution_id, name, version, status, input, output, custom_status, "
    "parent_instance_id, parent_execution_id, parent_task_id, created_time, last_updated_time, "
    "history_count"
)


class SqliteTaskHubStore:
    """:class:`TaskHubStore` on one SQLite connection (a file in WAL mode, or ``":memory:"``)."""

    def __init__(self, path: str = ":memory:") -> None:
        """Open (or create) the task hub at ``path`` (:func:`devhost.hubfile.open_hub_file`:
        private, checked). Raises TaskHubDamaged when the file is not a sound SQLite database."""
        self.path = path
        self._lock = threading.RLock()
        self._db = open_hub_file(path)
        try:
            with self._transaction() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise TaskHubDamaged(path, first_line(error)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # A COMMIT refused (a full disk: SQLITE_FULL) may leave the transaction open, and
                # every later BEGIN would fail until a restart; SQLite may also have rolled it
                # back already, which makes this ROLLBACK fail harmlessly.
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- instances ---------------------------------------------------------------------------

    def create_instance(
        self, new: NewInstance, protected: Collection[RuntimeStatus] = LIVE_STATUSES
    ) -> None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT status FROM instances WHERE instance_id = ?", (new.instance_id,)
            ).fetchone()
            if row is not None and RuntimeStatus(row["status"]) in protected:
                raise InstanceExists(new.instance_id)
            self._insert_instance(db, new)

    def _insert_instance(self, db: sqlite3.Connection, new: NewInstance) -> None:
        _delete_instances(db, [new.instance_id])
        stamp = format_timestamp(new.created_time)
        db.execute(
            f"INSERT INTO instances ({_INSTANCE_COLUMNS}, ready) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, 0, 1)",
            (new.instance_id, new.execution_id, new.name, new.version, RuntimeStatus.PENDING.value)
            + (new.input, new.parent_instance_id, new.parent_execution_id, new.parent_task_id)
            + (stamp, stamp),
        )
        db.execute(_INSERT_INBOX, (new.instance_id, new.execution_id, 0, new.started_event))

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._read(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
        )
        return InstanceRecord.from_row(rows[0]) if rows else None

    def load_history(self, instance_id: str) -> list[str]:
        rows = self._read(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [row["event"] for row in rows]

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]:
        statuses = [RuntimeStatus(s).value for s in query.statuses]
        prefix = query.instance_id_prefix
        where, params = _where(
            ("created_time >= ?", _stamp(query.created_from)),
            ("created_time <= ?", _stamp(query.created_to)),
            (f"status IN ({','.join('?' * len(statuses))})", statuses or None),
            ("substr(instance_id, 1, ?) = ?", [len(prefix), prefix] if prefix else None),
        )
        if query.continuation_token:
            created, last_id = decode_page_token(query.continuation_token)
            where += " AND (created_time > ? OR (created_time = ? AND instance_id > ?))"
            params += [created, created, last_id]
        top = max(1, query.top)
        rows = self._read(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE {where} "
            "ORDER BY created_time, instance_id LIMIT ?",
            [*params, top + 1],
        )
        last = rows[top - 1] if len(rows) > top else None
        token = encode_page_token(last["created_time"], last["instance_id"]) if last else None
        return [InstanceRecord.from_row(row) for row in rows[:top]], token

    def enqueue(
        self,
        instance_id: str,
        event: str,
        *,
        control: bool,
        check: Callable[[InstanceRecord | None], None],
    ) -> None:
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
            ).fetchone()
            check(InstanceRecord.from_row(row) if row else None)
            db.execute(_INSERT_INBOX, (instance_id, None, int(control), event))
            ready_rule = "1" if control else "CASE WHEN status = 'Suspended' THEN ready ELSE 1 END"
            db.execute(
                f"UPDATE instances SET ready = {ready_rule} WHERE instance_id = ?", (instance_id,)
            )

    def purge_instance(self, instance_id: str) -> int:
        with self._transaction() as db:
            return _delete_instances(db, [instance_id])

    def purge_instances(
        self, created_from: dt.datetime, created_to: dt.datetime | None, statuses: Sequence[str]
    ) -> int:
        where, params = _where(
            ("created_time >= ?", _stamp(created_from)),
            ("created_time <= ?", _stamp(created_to)),
            (f"status IN ({','.join('?' * len(statuses))})", list(statuses) or None),
        )
        with self._transaction() as db:
            found = db.execute(f"SELECT instance_id FROM instances WHERE {where}", params)
            return _delete_instances(db, [row["instance_id"] for row in found])

    # -- episodes ----------------------------------------------------------------------------

    def ready_instances(self, limit: int, exclude: set[str]) -> list[str]:
        rows = self._read(
            "SELECT instance_id FROM instances WHERE ready = 1 ORDER BY last_updated_time LIMIT ?",
            (limit + len(exclude),),
        )
        return [row["instance_id"] for row in rows if row["instance_id"] not in exclude][:limit]

    def read_inbox(self, instance_id: str) -> tuple[InstanceRecord | None, list[InboxRow]]:
        with self._lock:
            record = self.get_instance(instance_id)
            rows = self._db.execute(
                "SELECT id, execution_id, control, event FROM inbox WHERE instance_id = ? "
                "ORDER BY id",
                (instance_id,),
            ).fetchall()
        return record, [
            InboxRow(r["id"], r["execution_id"], bool(r["control"]), r["event"]) for r in rows
        ]

    def commit_episode(self, commit: EpisodeCommit) -> None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT execution_id, history_count FROM instances WHERE instance_id = ?",
                (commit.instance_id,),
            ).fetchone()
            if (
                row is None
                or row["execution_id"] != commit.execution_id
                or row["history_count"] != commit.history_count
            ):
                raise InstanceChanged(
                    commit.instance_id,
                    f"expected execution {commit.execution_id} with {commit.history_count} "
                    "history events",
                )
            db.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in commit.consumed])
            db.executemany(
                "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                [
                    (commit.instance_id, commit.history_count + n, text)
                    for n, text in enumerate(commit.appended)
                ],
            )
            # Clean up before adding this episode's work: what an ending episode scheduled
            # still runs (as in DTFx), only its results will be dropped.
            if commit.status.is_terminal:
                for table in ("activities", "timers", "inbox"):
                    db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (commit.instance_id,))
            if commit.new_execution is not None:
                self._start_new_execution(db, commit)
            self._schedule_work(db, commit)
            self._update_instance(db, commit)

    @staticmethod
    def _start_new_execution(db: sqlite3.Connection, commit: EpisodeCommit) -> None:
        """Continue-as-new: the old execution's history and work go, the new one's first events
        wait in the inbox."""
        assert commit.new_execution is not None
        execution_id, _, events = commit.new_execution
        for table in ("history", "activities", "timers"):
            db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (commit.instance_id,))
        db.executemany(
            _INSERT_INBOX, [(commit.instance_id, execution_id, 0, text) for text in events]
        )

    def _schedule_work(self, db: sqlite3.Connection, commit: EpisodeCommit) -> None:
        """The episode's activities, timers (unless it ended), timer cancels, children, entity
        messages and deliveries to other instances."""
        key = (commit.instance_id, commit.execution_id)
        db.executemany(
            "INSERT INTO activities (instance_id, execution_id, task_id, name, input) "
            "VALUES (?, ?, ?, ?, ?)",
            [(*key, task_id, name, data) for task_id, name, data in commit.activities],
        )
        if not commit.status.is_terminal and commit.new_execution is None:
            db.executemany(
                "INSERT INTO timers (instance_id, execution_id, timer_id, fire_at) "
                "VALUES (?, ?, ?, ?)",
                [(*key, timer_id, fire_at) for timer_id, fire_at in commit.timers],
            )
        db.executemany(
            "DELETE FROM timers WHERE instance_id = ? AND execution_id = ? AND timer_id = ?",
            [(*key, timer_id) for timer_id in commit.cancel_timers],
        )
        for child in commit.children:
            self._start_child(db, commit.instance_id, commit.execution_id, child)
        db.executemany(
            "INSERT INTO entity_inbox (entity_id, message) VALUES (?, ?)",
            commit.entity_messages,
        )
        self._deliver(db, commit.deliveries)

    @staticmethod
    def _update_instance(db: sqlite3.Connection, commit: EpisodeCommit) -> None:
        """The instance row after the episode: execution, status, counts, readiness, and output
        and custom status when the episode set them."""
        values: dict[str, Any] = {
            "execution_id": commit.execution_id,
            "status": commit.status.value,
            "last_updated_time": format_timestamp(commit.now),
            "history_count": commit.history_count + len(commit.appended),
            "ready": _readiness(db, commit.instance_id, commit.status),
        }
        if commit.new_execution is not None:
            values["execution_id"], values["input"], _ = commit.new_execution
            values["history_count"] = 0
        if commit.set_output:
            values["output"] = commit.output
        if commit.set_custom_status:
            values["custom_status"] = commit.custom_status
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        db.execute(
            f"UPDATE instances SET {assignments} WHERE instance_id = :instance_id",
            {**values, "instance_id": commit.instance_id},
        )

    def _start_child(
        self, db: sqlite3.Connection, parent_id: str, parent_execution: str, child: NewInstance
    ) -> None:
        row = db.execute(
            "SELECT status FROM instances WHERE instance_id = ?", (child.instance_id,)
        ).fetchone()
        if row is not None and row["status"] not in TERMINAL:
            if child.conflict_event is not None:
                self._deliver(db, [Delivery(parent_id, parent_execution, child.conflict_event)])
            return
        self._insert_instance(db, child)

    def rewrite_history(
        self,
        record: InstanceRecord,
        history: Sequence[str],
        rerun: Sequence[tuple[int, str, str | None]],
        trigger: str,
        now: dt.datetime,
    ) -> None:
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE instances SET status = ?, output = NULL, history_count = ?, ready = 1, "
                "last_updated_time = ? WHERE instance_id = ? AND execution_id = ? AND status = ?",
                (
                    RuntimeStatus.RUNNING.value,
                    len(history),
                    format_timestamp(now),
                    record.instance_id,
                    record.execution_id,
                    RuntimeStatus.FAILED.value,
                ),
            ).rowcount
            if not changed:
                raise InstanceChanged(
                    record.instance_id, f"expected the Failed execution {record.execution_id}"
                )
            db.execute("DELETE FROM history WHERE instance_id = ?", (record.instance_id,))
            db.executemany(
                "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                [(record.instance_id, n, text) for n, text in enumerate(history)],
            )
            key = (record.instance_id, record.execution_id)
            db.executemany(
                "INSERT INTO activities (instance_id, execution_id, task_id, name, input) "
                "VALUES (?, ?, ?, ?, ?)",
                [(*key, task_id, name, data) for task_id, name, data in rerun],
            )
            db.execute(_INSERT_INBOX, (*key, 0, trigger))

    # -- activities and timers -----------------------------------------------------------------

    def next_activities(self, after_id: int, limit: int) -> list[ActivityRow]:
        rows = self._read(
            "SELECT id, instance_id, execution_id, task_id, name, input FROM activities "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [
            ActivityRow(
                row["id"],
                row["instance_id"],
                row["execution_id"],
                row["task_id"],
                row["name"],
                row["input"],
            )
            for row in rows
        ]

    def deliver(self, deliveries: Sequence[Delivery]) -> None:
        with self._transaction() as db:
            self._deliver(db, deliveries)

    def _deliver(self, db: sqlite3.Connection, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        live_activities = _existing_ids(db, "activities", [d.activity_row for d in deliveries])
        live_timers = _existing_ids(db, "timers", [d.timer_row for d in deliveries])
        targets: dict[str, tuple[str, str] | None] = {}
        inserts: list[tuple[str, str | None, int, str]] = []
        for d in deliveries:
            # Each row settles once, even if the same run is reported twice in one batch.
            if d.activity_row is not None:
                if d.activity_row not in live_activities:
                    continue
                live_activities.discard(d.activity_row)
            if d.timer_row is not None:
                if d.timer_row not in live_timers:
                    continue
                live_timers.discard(d.timer_row)
            if d.instance_id not in targets:
                row = db.execute(
                    "SELECT status, execution_id FROM instances WHERE instance_id = ?",
                    (d.instance_id,),
                ).fetchone()
                targets[d.instance_id] = (row["status"], row["execution_id"]) if row else None
            target = targets[d.instance_id]
            if target is None or target[0] in TERMINAL:
                continue
            if d.execution_id is not None and d.execution_id != target[1]:
                continue
            inserts.append((d.instance_id, d.execution_id, 0, d.event))
        db.executemany(
            "DELETE FROM activities WHERE id = ?",
            [(d.activity_row,) for d in deliveries if d.activity_row is not None],
        )
        db.executemany(
            "DELETE FROM timers WHERE id = ?",
            [(d.timer_row,) for d in deliveries if d.timer_row is not None],
        )
        db.executemany(_INSERT_INBOX, inserts)
        db.executemany(
            "UPDATE instances SET ready = 1 WHERE instance_id = ? AND status != 'Suspended'",
            [(instance_id,) for instance_id in {i[0] for i in inserts}],
        )

    def due_timers(self, now: dt.datetime, limit: int) -> list[TimerRow]:
        rows = self._read(
            "SELECT id, instance_id, execution_id, timer_id, fire_at FROM timers "
            "WHERE fire_at <= ? ORDER BY fire_at LIMIT ?",
            (format_timestamp(now), limit),
        )
        return [
            TimerRow(
                row["id"], row["instance_id"], row["execution_id"], row["timer_id"], row["fire_at"]
            )
            for row in rows
        ]

    def next_timer_at(self) -> dt.datetime | None:
        rows = self._read("SELECT MIN(fire_at) AS fire_at FROM timers")
        return parse_timestamp(rows[0]["fire_at"]) if rows and rows[0]["fire_at"] else None

    # -- entities ------------------------------------------------------------------------------

    def enqueue_entity_messages(self, messages: Sequence[tuple[str, str]]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT INTO entity_inbox (entity_id, message) VALUES (?, ?)", messages)

    def ready_entities(self, limit: int, exclude: set[str]) -> list[str]:
        rows = self._read(
            "SELECT entity_id FROM entity_inbox GROUP BY entity_id ORDER BY MIN(id) LIMIT ?",
            (limit + len(exclude),),
        )
        return [row["entity_id"] for row in rows if row["entity_id"] not in exclude][:limit]

    def read_entity_inbox(
        self, entity_id: str, limit: int
    ) -> tuple[EntityRecord | None, list[tuple[int, str]]]:
        with self._lock:
            record = self.get_entity(entity_id)
            rows = self._db.execute(
                "SELECT id, message FROM entity_inbox WHERE entity_id = ? ORDER BY id LIMIT ?",
                (entity_id, limit),
            ).fetchall()
        return record, [(row["id"], row["message"]) for row in rows]

    def commit_entity_batch(
        self,
        entity_id: str,
        consumed: list[int],
        exists: bool,
        state: str | None,
        now: dt.datetime,
        deliveries: Sequence[Delivery],
    ) -> None:
        name, _, key = entity_id[1:].partition("@")
        with self._transaction() as db:
            db.executemany("DELETE FROM entity_inbox WHERE id = ?", [(i,) for i in consumed])
            if exists:
                db.execute(
                    "INSERT INTO entities (entity_id, name, key, state, last_operation_time) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(entity_id) DO UPDATE SET "
                    "state = excluded.state, last_operation_time = excluded.last_operation_time",
                    (entity_id, name, key, state, format_timestamp(now)),
                )
            else:
                db.execute("DELETE FROM entities WHERE entity_id = ?", (entity_id,))
            self._deliver(db, deliveries)

    def get_entity(self, entity_id: str) -> EntityRecord | None:
        rows = self._read(
            "SELECT entity_id, name, key, state, last_operation_time FROM entities "
            "WHERE entity_id = ?",
            (entity_id,),
        )
        return EntityRecord.from_row(rows[0]) if rows else None

    def query_entities(
        self,
        name: str | None,
        top: int,
        after_id: str | None,
        last_from: dt.datetime | None,
        last_to: dt.datetime | None,
    ) -> list[EntityRecord]:
        where, params = _where(
            ("name = ?", name.lower() if name else None),
            ("entity_id > ?", after_id),
            ("last_operation_time >= ?", _stamp(last_from)),
            ("last_operation_time <= ?", _stamp(last_to)),
        )
        rows = self._read(
            "SELECT entity_id, name, key, state, last_operation_time FROM entities "
            f"WHERE {where} ORDER BY entity_id LIMIT ?",
            [*params, top],
        )
        return [EntityRecord.from_row(row) for row in rows]


# --- helpers ----------------------------------------------------------------------------------


def _where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """``a AND b`` of the conditions whose value is not None; a list value binds several ``?``."""
    clauses, params = ["1 = 1"], []
    for clause, value in conditions:
        if value is not None:
            clauses.append(clause)
            params.extend(value if isinstance(value, list) else [value])
    return " AND ".join(clauses), params


def _stamp(when: dt.datetime | None) -> str | None:
    return format_timestamp(when) if when is not None else None


def _readiness(db: sqlite3.Connection, instance_id: str, status: RuntimeStatus) -> int:
    if status.is_terminal:
        return 0
    row = db.execute(
        "SELECT COUNT(*) AS waiting, COALESCE(MAX(control), 0) AS control FROM inbox "
        "WHERE instance_id = ?",
        (instance_id,),
    ).fetchone()
    waiting, control = row["waiting"], row["control"]
    if control:
        return 1
    return int(bool(waiting) and status is not RuntimeStatus.SUSPENDED)


def _existing_ids(db: sqlite3.Connection, table: str, ids: Sequence[int | None]) -> set[int]:
    wanted = [i for i in ids if i is not None]
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" for _ in chunk)
        found.update(
            r["id"] for r in db.execute(f"SELECT id FROM {table} WHERE id IN ({marks})", chunk)
        )
    return found


def _delete_instances(db: sqlite3.Connection, instance_ids: Sequence[str]) -> int:
    deleted = 0
    for table in ("history", "inbox", "activities", "timers"):
        db.executemany(f"DELETE FROM {table} WHERE instance_id = ?", [(i,) for i in instance_ids])
    for instance_id in instance_ids:
        deleted += db.execute(
            "DELETE FROM instances WHERE instance_id = ?", (instance_id,)
        ).rowcount
    return deleted
