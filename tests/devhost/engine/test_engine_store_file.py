"""The task hub's file: private to the host's user, and refused whole when damaged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devhost import history as h
from devhost.hubstore import TaskHubDamaged
from devhost.store import SqliteTaskHubStore
from devhost.workitems import NewInstance
from tests.devhost.engine.conftest import START


def _fill(path: Path, count: int = 200) -> None:
    store = SqliteTaskHubStore(str(path))
    try:
        for number in range(count):
            started = h.execution_started(
                START,
                instance_id=f"i{number}",
                execution_id="e1",
                name="orch",
                version=None,
                input_json='"' + "x" * 2000 + '"',
            )
            store.create_instance(
                NewInstance(f"i{number}", "e1", "orch", None, None, h.dumps(started), START)
            )
    finally:
        store.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_task_hub_and_its_wal_are_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    previous = os.umask(0o022)
    try:
        store = SqliteTaskHubStore(str(path))
        assert {_mode(path), _mode(Path(f"{path}-wal")), _mode(Path(f"{path}-shm"))} == {0o600}
        store.close()
    finally:
        os.umask(previous)


def test_an_existing_task_hub_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _fill(path, 3)
    path.chmod(0o644)
    store = SqliteTaskHubStore(str(path))
    try:
        assert _mode(path) == 0o600
        assert store.get_instance("i2") is not None
    finally:
        store.close()


@pytest.mark.parametrize("how", ["cut in half", "cut to 100 bytes", "not SQLite"])
def test_a_damaged_task_hub_is_refused_naming_the_file(tmp_path: Path, how: str) -> None:
    path = tmp_path / "hub.sqlite3"
    _fill(path)
    data = path.read_bytes()
    damaged = {
        "cut in half": data[: len(data) // 2],
        "cut to 100 bytes": data[:100],
        "not SQLite": b"this is not a database" * 1000,
    }[how]
    path.write_bytes(damaged)
    with pytest.raises(TaskHubDamaged) as raised:
        SqliteTaskHubStore(str(path))
    assert raised.value.path == str(path)
    assert str(path) in str(raised.value) and "restore it from a backup" in str(raised.value)
    assert path.read_bytes() == damaged  # left as it was
