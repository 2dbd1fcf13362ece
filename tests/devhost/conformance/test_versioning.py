"""Orchestration versioning (apps/versioning, host.json ``defaultVersion`` "2.0").

What Azure does (docs "Orchestration versioning in Durable Functions", Microsoft's
``samples-v2/orchestration_versioning`` and the extension's e2e ``VersioningTests``): a new
instance gets the version given to ``start_new`` or else the host's ``defaultVersion``, and keeps
it (``context.version``); a sub-orchestration gets the version given to
``call_sub_orchestrator[_with_retry]`` or else the host's ``defaultVersion`` (not its parent's).
Versions below the default are accepted by the default ``CurrentOrOlder`` match strategy.
"""

from __future__ import annotations

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess

APP = "versioning"


def test_default_version_from_host_json(app_host: HostProcess):
    started = flow.start(app_host, "process_order", {"sku": "A-1"})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {
        "version": "2.0",
        "shipment": "shipped A-1 with tracking",
        "subExplicit": "1.5",
        "subDefault": "2.0",
        "subRetry": "0.9",
    }


def test_version_given_to_start_new(app_host: HostProcess):
    started = flow.start(app_host, "process_order", {"sku": "B-2"}, query="?version=1.0")
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {
        "version": "1.0",
        "shipment": "shipped B-2",
        "subExplicit": "1.5",
        "subDefault": "2.0",
        "subRetry": "0.9",
    }
    events = flow.history(started)
    names = [e["FunctionName"] for e in flow.events_of(events, "TaskCompleted")]
    assert names == ["ship_legacy"]
    subs = flow.events_of(events, "SubOrchestrationInstanceCompleted")
    assert [e["Result"] for e in subs] == ["1.5", "2.0", "0.9"]
