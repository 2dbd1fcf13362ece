"""What a target leaves behind is bounded: a flood of messages keeps the first ones and says how
many were dropped, and a huge value is kept cut (``truncated``) without the host's memory staying
up. Through the real host, on the machine's PostgreSQL (127.0.0.1:5432, trust authentication).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import new_password
from tests.reliability.host import FleetHost
from tests.reliability.leaks import LeakWatch

pytestmark = pytest.mark.reliability

MIB = 1024
# What the host may keep after a 200 MB value went through it (KiB): buffers, not the value.
RSS_AFTER_LIMIT_KIB = 100 * MIB
KEPT_MESSAGES = 999  # and a last line that says how many more there were


def pg_member(database: str = "postgres") -> dict[str, Any]:
    return {
        "target_type": "database",
        "engine": "postgresql",
        "server_name": "127.0.0.1",
        "port": 5432,
        "database_name": database,
    }


def run_one(host: FleetHost, name: str, command: str) -> dict[str, Any]:
    """Run ``command`` on the postgres database; answer the target's output (receive)."""
    host.put_job(
        name,
        [
            {
                "step_name": "only",
                "command": command,
                "target_group_name": "pg",
                "credential_name": "pg-login",
                "retry_attempts": 0,
                "step_timeout_seconds": 120,
            }
        ],
    )
    execution = host.wait_finished(host.start_job(name), 120)
    assert execution["lifecycle"] == "Succeeded", execution
    path = f"/api/executions/{execution['job_execution_id']}/steps/1/targets/0/output"
    return host.ok("GET", path)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pg_host(
    tmp_path_factory: pytest.TempPathFactory, credential_key: str, leak_watch: LeakWatch
) -> Iterator[FleetHost]:
    host = FleetHost.start_fleet(
        tmp_path_factory.mktemp("output-limits"), {"SQLFLEET_CREDENTIAL_KEY": credential_key}
    )
    leak_watch.host(host)
    try:
        host.put_credential("pg-login", "postgres", new_password(leak_watch, "pg login"))
        host.put_target_group("pg", [pg_member()])
        yield host
    finally:
        host.stop()


@pytest.mark.parametrize("count", [100_000, 2_000])
def test_a_notice_flood_keeps_the_first_messages_and_counts_the_rest(
    pg_host: FleetHost, count: int
) -> None:
    # One statement (one DO block) raises them all: psqlODBC, which SQL Fleet used before
    # psycopg, dropped every notice of a statement beyond 32 KB of their text (about 1,900
    # short ones) and kept none of these, with no sign of the loss.
    flood = f"DO $$ BEGIN FOR i IN 1..{count} LOOP RAISE NOTICE '%', i; END LOOP; END $$"
    output = run_one(pg_host, f"notices-{count}", flood)
    messages = [m["message"] for m in output["messages"]]
    assert messages[:KEPT_MESSAGES] == [f"NOTICE: {i}" for i in range(1, KEPT_MESSAGES + 1)]
    assert messages[KEPT_MESSAGES:] == [f"... {count - KEPT_MESSAGES} more message(s) not kept"]
    assert output["messages_dropped"] == count - KEPT_MESSAGES


def test_a_few_notices_drop_nothing(pg_host: FleetHost) -> None:
    output = run_one(pg_host, "notices-few", "DO $$ BEGIN RAISE NOTICE 'one'; END $$")
    assert [m["message"] for m in output["messages"]] == ["NOTICE: one"]
    assert output["messages_dropped"] == 0


def test_a_huge_value_is_kept_cut_and_its_memory_given_back(pg_host: FleetHost) -> None:
    run_one(pg_host, "warm-up", "SELECT repeat('x', 100) AS small")
    before = memory_kib(pg_host, "VmRSS")
    output = run_one(pg_host, "huge-value", "SELECT repeat('x', 200000000) AS big, 7 AS n")
    after = memory_kib(pg_host, "VmRSS")
    result = output["result"]
    assert result["truncated"] is True
    big, n = result["rows"][0]
    assert n == 7 and set(big) == {"x"} and 0 < len(big) <= 64 * 1024
    assert after - before < RSS_AFTER_LIMIT_KIB, f"the host kept {(after - before) // MIB} MiB"


def memory_kib(host: FleetHost, field: str) -> int:
    assert host.process is not None
    for line in Path(f"/proc/{host.process.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc status")
