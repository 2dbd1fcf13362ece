"""The secrets scan, run after every other reliability test (``conftest.py`` orders it last):
no password these suites gave SQL Fleet, and not its credential key, shows in a task hub file,
a job database (its files, or its rows as text), a host log, a database server's files or log,
or any HTTP body the suites received."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.leaks import HOST_LOG, HTTP_RESPONSE, JOB_DATABASE, TASK_HUB, LeakWatch

pytestmark = pytest.mark.reliability


def test_no_secret_leaked_anywhere_the_suites_looked(leak_watch: LeakWatch) -> None:
    if leak_watch.empty:
        pytest.skip("no reliability suite ran in this session: nothing to scan")
    report = leak_watch.scan()
    print(
        f"\nsecrets scan: {len(leak_watch.secrets)} secrets, {report.bytes_read:,} bytes in "
        f"{sum(report.sources.values())} sources: {report.sources}"
    )
    assert not report.leaks, "\n".join(report.leaks)
    # The scan proves it read each kind of place: names it must find there were found.
    assert not report.missing_markers, report.missing_markers
    for kind in (TASK_HUB, JOB_DATABASE, HOST_LOG, HTTP_RESPONSE):
        assert report.sources.get(kind), f"no {kind} was scanned"


def test_the_scan_finds_a_planted_secret(tmp_path: Path) -> None:
    """The scanner itself: a secret planted in a file and in a dump is reported, with where."""
    watch = LeakWatch()
    secret = watch.secret("Planted-Secret-0123456789", "planted password")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "hub.sqlite3-wal").write_bytes(b"\x00binary\x00" + secret.encode())
    watch.path(TASK_HUB, tmp_path)
    watch.dump(JOB_DATABASE, "rows", lambda: f"credentials: (1,{secret})".encode())
    watch.expect(TASK_HUB, "binary")
    report = watch.scan()
    assert len(report.leaks) == 2, report.leaks
    assert "hub.sqlite3-wal" in report.leaks[0] and "rows" in report.leaks[1]
    assert not report.missing_markers
