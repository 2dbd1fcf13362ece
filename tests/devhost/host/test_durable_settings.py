"""host.json ``defaultVersion`` and ``overridableExistingInstanceStates``, over real HTTP.

A devhost runs a copy of the sample app whose host.json sets ``defaultVersion: "1.0"`` and
``overridableExistingInstanceStates: "AnyState"``. What the extension does, from its sources: a
start without a version gets defaultVersion, the HTTP API's (and the SDK's) ``version`` query
parameter overrides it; a sub-orchestration gets the version it is called with, else
defaultVersion (not its parent's); continue-as-new keeps the version; the status API shows no
version (``StatusResponsePayload`` has none and ``historyEvents`` drops ExecutionStarted's
``Version``). With AnyState a start replaces even a running instance, with a new execution.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.devhost.host.hostproc import SAMPLE_APP, WEBHOOK, HostProcess, poll

DEFAULT = "1.0"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = tmp_path_factory.mktemp("settings-app") / "app"
    shutil.copytree(SAMPLE_APP, app, ignore=shutil.ignore_patterns(".devhost", "__pycache__"))
    settings = json.loads((app / "host.json").read_text())
    settings["extensions"]["durableTask"].update(
        defaultVersion=DEFAULT, overridableExistingInstanceStates="AnyState"
    )
    (app / "host.json").write_text(json.dumps(settings))
    process = HostProcess.start(app, Path(tmp_path_factory.mktemp("settings-data")))
    try:
        yield process
    finally:
        process.stop()


def _output(host: HostProcess, instance: str) -> Any:
    final = host.wait_for_status(instance)
    assert final["runtimeStatus"] == "Completed", final
    return final["output"]


def test_http_api_starts_get_the_default_or_the_given_version(host: HostProcess):
    plain = host.start_orchestration("versioned")
    assert _output(host, plain) == {"version": DEFAULT, "plain": DEFAULT, "given": "7.0"}
    given = host.call("POST", f"{WEBHOOK}/orchestrators/versioned?version=2.5")
    assert given.status == 202
    # The child called without a version gets defaultVersion, not its parent's 2.5.
    assert _output(host, given.json()["id"]) == {"version": "2.5", "plain": DEFAULT, "given": "7.0"}


def test_sdk_start_new_gets_the_default_or_the_given_version(host: HostProcess):
    plain = host.sdk("start_new", name="versioned").json()["id"]
    assert _output(host, plain)["version"] == DEFAULT
    given = host.sdk("start_new", name="versioned", version="3.0").json()["id"]
    assert _output(host, given)["version"] == "3.0"


def test_continue_as_new_keeps_the_version_and_the_status_api_shows_none(host: HostProcess):
    started = host.call("POST", f"{WEBHOOK}/orchestrators/versioned?version=4.0", {"rounds": 2})
    instance = started.json()["id"]
    assert _output(host, instance) == {"version": "4.0", "plain": DEFAULT, "given": "7.0"}
    status = host.status(instance, "?showHistory=true").json()
    assert not any("version" in key.lower() for key in status)
    assert not any("Version" in event for event in status["historyEvents"])


def test_any_state_replaces_a_running_instance(host: HostProcess):
    instance = f"replace-{uuid.uuid4().hex[:10]}"
    first = host.call("POST", f"{WEBHOOK}/orchestrators/waiter/{instance}", {"n": 1})
    assert first.status == 202
    poll(
        lambda: host.status(instance).json()["customStatus"] == {"stage": "waiting"},
        30,
        "the first execution to wait",
    )

    second = host.call("POST", f"{WEBHOOK}/orchestrators/waiter/{instance}", {"n": 2})
    assert second.status == 202 and second.json()["id"] == instance
    assert host.status(instance).json()["input"] == {"n": 2}
    poll(
        lambda: host.status(instance).json()["customStatus"] == {"stage": "waiting"},
        30,
        "the new execution to wait",
    )
    again = host.sdk("start_new", name="waiter", id=instance, input={"n": 3})
    assert again.status == 200 and again.json() == {"id": instance}
    poll(
        lambda: host.status(instance).json()["customStatus"] == {"stage": "waiting"},
        30,
        "the third execution to wait",
    )
    host.call("POST", f"{WEBHOOK}/instances/{instance}/raiseEvent/Go", {"ok": 3})
    final = host.wait_for_status(instance)
    assert (final["runtimeStatus"], final["input"], final["output"]) == (
        "Completed",
        '{"n": 3}',  # the Python client's start_new double-encodes its input
        {"got": {"ok": 3}},
    )
    events = host.status(instance, "?showHistory=true").json()["historyEvents"]
    assert [e["EventType"] for e in events].count("ExecutionStarted") == 1
