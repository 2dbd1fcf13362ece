"""Big executions are read a page at a time: the targets list, the execution document and the
outputs honour ``top`` and continue by token, in (step, ordinal) order, with filters; the CLI
reads every page. On a real host with SQLite targets (two steps of twelve databases)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.jobs.fleet import sqlite_folder_member, step, unique
from tests.jobs.host import JobsHost

DATABASES = 12
# Fails on the databases whose name ends in 3 or 7 (db03, db07, db13...).
FAIL_SOME = (
    "SELECT '$(target_database_name)' AS db, CASE WHEN '$(target_database_name)' LIKE '%3' OR "
    "'$(target_database_name)' LIKE '%7' THEN abs(-9223372036854775808) END AS boom;"
)


@pytest.fixture(scope="module")
def finished(jobs_host: JobsHost, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("paging")
    for number in range(DATABASES):
        (folder / f"db{number:02d}.db").touch()
    group, job = unique("group"), unique("job")
    jobs_host.ok("PUT", f"/api/target-groups/{group}", {"members": [sqlite_folder_member(folder)]})
    steps = [
        step("first", FAIL_SOME, group, on_failure="continue"),
        step("second", "SELECT 2 AS two;", group),
    ]
    jobs_host.put_job(job, steps)
    execution = jobs_host.run_job(job)
    return {"id": execution["job_execution_id"], "execution": execution}


def pages(jobs_host: JobsHost, path: str, **query: Any) -> list[dict[str, Any]]:
    """Every page of a paged list, following continuations."""
    seen: list[dict[str, Any]] = []
    while True:
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        page = jobs_host.ok("GET", f"{path}?{suffix}")
        assert len(page["items"]) <= int(query.get("top", 10**9))
        seen.append(page)
        if not page["continuation"]:
            return seen
        query = {**query, "continuation": page["continuation"]}


def keys(items: list[dict[str, Any]], pick: Callable[[dict[str, Any]], Any]) -> list[Any]:
    return [(pick(item)["step_id"], pick(item)["target_ordinal"]) for item in items]


def test_the_targets_list_honours_top_and_continues_in_order(
    jobs_host: JobsHost, finished: dict[str, Any]
) -> None:
    path = f"/api/executions/{finished['id']}/targets"
    everything = jobs_host.ok("GET", path)
    assert len(everything["items"]) == 2 * DATABASES and everything["continuation"] is None
    walked = pages(jobs_host, path, top=5)
    assert [len(page["items"]) for page in walked] == [5, 5, 5, 5, 4]
    items = [item for page in walked for item in page["items"]]
    assert keys(items, lambda i: i) == keys(everything["items"], lambda i: i)
    assert keys(items, lambda i: i) == sorted(keys(items, lambda i: i)), "in (step, ordinal)"

    failed = [item for page in pages(jobs_host, path, top=3, lifecycle="Failed")
              for item in page["items"]]  # fmt: skip
    assert len(failed) == 2 and {item["lifecycle"] for item in failed} == {"Failed"}
    second = [item for page in pages(jobs_host, path, top=7, step_id=2) for item in page["items"]]
    assert len(second) == DATABASES and {item["step_id"] for item in second} == {2}


def test_the_execution_document_holds_its_first_top_targets(
    jobs_host: JobsHost, finished: dict[str, Any]
) -> None:
    document = jobs_host.execution(finished["id"], top=5)
    held = [target for each in document["steps"] for target in each["targets"]]
    assert len(held) == 5 and document["targets_continuation"]
    rest = pages(
        jobs_host,
        f"/api/executions/{finished['id']}/targets",
        top=100,
        continuation=document["targets_continuation"],
    )
    after = [item for page in rest for item in page["items"]]
    assert len(held) + len(after) == 2 * DATABASES
    assert keys(held + after, lambda i: i) == sorted(keys(held + after, lambda i: i))
    whole = jobs_host.execution(finished["id"])
    assert whole["targets_continuation"] is None
    assert sum(len(each["targets"]) for each in whole["steps"]) == 2 * DATABASES


def test_outputs_come_a_page_at_a_time_with_their_rows_and_errors(
    jobs_host: JobsHost, finished: dict[str, Any]
) -> None:
    walked = pages(jobs_host, f"/api/executions/{finished['id']}/output", top=4, step_id=1)
    items = [item for page in walked for item in page["items"]]
    assert len(walked) == 3 and len(items) == DATABASES
    by_db = {item["target"]["target_database_name"]: item for item in items}
    assert by_db["db00"]["result"]["rows"] == [["db00", None]]
    assert by_db["db03"]["target"]["lifecycle"] == "Failed" and by_db["db03"]["attempts"]
    assert by_db["db03"]["attempts"][-1]["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("top=0", "top"), ("top=10001", "top"), ("continuation=not-a-token", "continuation")],
)
def test_bad_paging_input_is_a_400_naming_the_field(
    jobs_host: JobsHost, finished: dict[str, Any], query: str, field: str
) -> None:
    reply = jobs_host.call("GET", f"/api/executions/{finished['id']}/targets?{query}")
    assert reply.status == 400 and reply.body["field"] == field, reply.body


def test_the_cli_reads_every_page(jobs_host: JobsHost, finished: dict[str, Any]) -> None:
    cli = jobs_host.cli("get", finished["id"], "--json")
    assert cli.returncode == 1, cli.stderr  # the first step has failed targets
    document = json.loads(cli.stdout)
    assert sum(len(each["targets"]) for each in document["steps"]) == 2 * DATABASES
    failed = json.loads(
        jobs_host.cli("get", finished["id"], "--lifecycle", "Failed", "--json").stdout
    )
    assert [len(each["targets"]) for each in failed["steps"]] == [2]
