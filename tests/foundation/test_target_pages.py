"""Pages of an execution's target rows, on SQLite and PostgreSQL: the JSON page the API answers
is built a few rows at a time and is, byte for byte, the page of models dumped as JSON."""

from __future__ import annotations

import json

import pytest

from sqlfleet.errors import BadRequest, NotFound
from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import JobIn, TargetGroupIn, TargetSpec, validate_document
from sqlfleet.store import SqlJobStore, pages

STEP_ONE, STEP_TWO = 7, 5


@pytest.fixture
def execution_id(store: SqlJobStore) -> str:
    member = {"target_type": "database", "server_name": "s", "database_name": "d"}
    store.put_target_group("g", validate_document(TargetGroupIn, {"members": [member]}))
    steps = [
        {"command": "SELECT 1", "target_group_name": "g"},
        {"step_name": "two", "command": "SELECT 2", "target_group_name": "g"},
    ]
    store.put_job("j", validate_document(JobIn, {"steps": steps}))
    execution = store.create_job_execution("j").job_execution_id
    for step_id, count in ((1, STEP_ONE), (2, STEP_TWO)):
        specs = [
            TargetSpec(
                target_type="database", target_id=None, server_name="S", database_name=f"d{n}"
            )
            for n in range(count)
        ]
        store.create_target_rows(execution, step_id, specs)
    for ordinal in (1, 4, 6):
        store.start_target_attempt(execution, 1, ordinal, 1)
        store.transition(execution, Lifecycle.FAILED, step_id=1, ordinal=ordinal)
    return execution


@pytest.mark.parametrize("chunk", [1, 2, 3, 500])
@pytest.mark.parametrize(
    ("top", "filters"),
    [
        (1, {}),
        (4, {}),
        (6, {}),
        (12, {}),
        (13, {}),
        (10_000, {}),
        (2, {"lifecycle": Lifecycle.FAILED}),
        (3, {"lifecycle": Lifecycle.FAILED}),
        (2, {"step_id": 2}),
        (5, {"step_id": 2}),
    ],
)
def test_a_json_page_is_the_page_of_models_whatever_the_chunk(
    store: SqlJobStore,
    execution_id: str,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
    top: int,
    filters: dict[str, object],
) -> None:
    monkeypatch.setattr(pages, "PAGE_CHUNK", chunk)
    continuation: str | None = None
    seen = []
    while True:
        page = store.page_target_executions(
            execution_id,
            top=top,
            continuation=continuation,
            **filters,  # type: ignore[arg-type]
        )
        body = store.page_target_executions_json(
            execution_id,
            top=top,
            continuation=continuation,
            **filters,  # type: ignore[arg-type]
        )
        assert body == page.model_dump_json().encode()
        assert len(page.items) <= top
        seen += [(t.step_id, t.target_ordinal) for t in page.items]
        continuation = json.loads(body)["continuation"]
        if continuation is None:
            break
        assert len(page.items) == top
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    expected = (
        3 if "lifecycle" in filters else STEP_TWO if "step_id" in filters else STEP_ONE + STEP_TWO
    )
    assert len(seen) == expected


def test_a_json_page_refuses_what_the_page_of_models_refuses(
    store: SqlJobStore, execution_id: str
) -> None:
    for bad in ({"top": 0}, {"top": pages.MAX_TARGET_PAGE + 1}, {"continuation": "garbage"}):
        with pytest.raises(BadRequest):
            store.page_target_executions_json(execution_id, **bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.page_target_executions_json("00000000-0000-0000-0000-000000000000")
    empty = store.page_target_executions_json(execution_id, lifecycle=Lifecycle.CANCELED)
    assert json.loads(empty) == {"items": [], "continuation": None}
