"""Fan-out/fan-in (apps/fan_out_fan_in): 50 parallel activities, gathered by task_all."""

from __future__ import annotations

from dateutil import parser as date_parser

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess

APP = "fan_out_fan_in"
FILES = 50


def test_fifty_parallel_activities_are_summed(app_host: HostProcess):
    started = flow.start(app_host, "backup_site_content", {"files": FILES})
    final = flow.wait(started, timeout=60)
    assert final["runtimeStatus"] == "Completed"
    squares = [n * n for n in range(1, FILES + 1)]
    # task_all keeps the order of the tasks, not the order in which they finished.
    assert final["output"] == {"files": FILES, "totalBytes": sum(squares), "sizes": squares}
    assert final["customStatus"] == {"phase": "done", "files": FILES}


def test_history_shows_every_copy_scheduled_before_any_completed(app_host: HostProcess):
    started = flow.start(app_host, "backup_site_content", {"files": FILES})
    assert flow.wait(started, timeout=60)["runtimeStatus"] == "Completed"
    events = flow.history(started)
    completed = flow.events_of(events, "TaskCompleted")
    assert len(completed) == FILES + 1
    assert completed[0]["FunctionName"] == "get_file_list"
    copies = [e for e in completed if e["FunctionName"] == "copy_file"]
    assert len(copies) == FILES
    assert sorted(e["Result"] for e in copies) == sorted(n * n for n in range(1, FILES + 1))
    # Fan-out: all 50 were scheduled in one episode, before the first of them completed.
    last_scheduled = max(date_parser.parse(e["ScheduledTime"]) for e in copies)
    first_completed = min(date_parser.parse(e["Timestamp"]) for e in copies)
    assert last_scheduled <= first_completed
    assert date_parser.parse(completed[0]["Timestamp"]) <= min(
        date_parser.parse(e["ScheduledTime"]) for e in copies
    )
    assert not flow.events_of(events, "TaskFailed")


def test_task_any_returns_the_first_activity_to_finish(app_host: HostProcess):
    started = flow.start(app_host, "first_answer", {"delays_ms": [1500, 50, 700]})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"winner": 50, "all": [1500, 50, 700]}
