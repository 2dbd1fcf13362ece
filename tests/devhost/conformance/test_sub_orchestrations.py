"""Sub-orchestrations (apps/sub_orchestrations): children with given and generated ids, a
failing child caught by its parent, call_sub_orchestrator_with_retry."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import WEBHOOK, HostProcess

APP = "sub_orchestrations"


def instance_status(host: HostProcess, instance_id: str) -> dict:
    reply = host.call("GET", f"{WEBHOOK}/instances/{quote(instance_id, safe='')}")
    assert reply.status == 200, (reply.status, reply.text)
    body: dict = reply.json()
    return body


def test_children_with_given_and_generated_ids(app_host: HostProcess):
    order = {"tenant": "acme", "regions": ["east", "west", "north"]}
    started = flow.start(app_host, "provision_tenant", order)
    parent = started["id"]
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    assert final["customStatus"] == {"deployed": 3}
    deployed = final["output"]["deployed"]
    assert deployed == [
        {
            "region": region,
            "server": f"acme-{region}-01",
            "instanceId": f"{parent}-{region}",
            "parent": parent,
        }
        for region in order["regions"]
    ]
    audit = final["output"]["audit"]
    assert audit["verdict"] == "acme: ok" and audit["parent"] == parent
    generated = audit["instanceId"]
    assert generated and generated not in (parent, *(d["instanceId"] for d in deployed))

    # Every child is an instance of its own, visible through the instances API.
    for region in order["regions"]:
        child = instance_status(app_host, f"{parent}-{region}")
        assert (child["name"], child["runtimeStatus"]) == ("provision_region", "Completed")
        # The SDK sends a sub-orchestration's input as JSON text, which the instance keeps.
        assert child["input"] == json.dumps({"tenant": "acme", "region": region})
        assert child["output"]["instanceId"] == f"{parent}-{region}"
    generated_child = instance_status(app_host, generated)
    assert (generated_child["name"], generated_child["runtimeStatus"]) == (
        "audit_tenant",
        "Completed",
    )

    listed = app_host.call("GET", f"{WEBHOOK}/instances?instanceIdPrefix={quote(parent)}-")
    assert listed.status == 200
    assert sorted(i["instanceId"] for i in listed.json()) == sorted(
        f"{parent}-{region}" for region in order["regions"]
    )

    events = flow.history(started)
    completed = flow.events_of(events, "SubOrchestrationInstanceCompleted")
    assert [e["FunctionName"] for e in completed] == ["provision_region"] * 3 + ["audit_tenant"]
    assert sorted(e["Result"]["region"] for e in completed[:3]) == sorted(order["regions"])


def test_failing_child_surfaces_in_the_parent_and_retries(app_host: HostProcess):
    started = flow.start(app_host, "migrate_tables", {"key": uuid.uuid4().hex})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    output = final["output"]
    assert output["failure"].startswith(
        "Orchestrator function 'failing_migration' failed: cannot migrate table orders: "
        "lock timeout"
    )
    # Failed twice, succeeded on the third attempt: a new child instance each time.
    assert output["retried"] == {"attempt": 3}
    assert output["exhausted"].startswith(
        "Orchestrator function 'flaky_migration' failed: migration attempt 2 failed"
    )

    child = instance_status(app_host, f"{started['id']}-orders")
    assert (child["name"], child["runtimeStatus"]) == ("failing_migration", "Failed")
    assert child["output"].startswith(
        "Orchestrator function 'failing_migration' failed: cannot migrate table orders: "
        "lock timeout"
    )

    events = flow.history(started)
    failed = flow.events_of(events, "SubOrchestrationInstanceFailed")
    assert [e["FunctionName"] for e in failed] == ["failing_migration"] + ["flaky_migration"] * 4
    assert failed[0]["Reason"].startswith(
        "Orchestrator function 'failing_migration' failed: cannot migrate table orders"
    )
    completed = flow.events_of(events, "SubOrchestrationInstanceCompleted")
    assert [e["FunctionName"] for e in completed] == ["flaky_migration"]
    # Retries wait for a durable timer between attempts.
    assert len(flow.events_of(events, "TimerFired")) >= 3


def test_uncaught_child_failure_fails_the_parent(app_host: HostProcess):
    started = flow.start(app_host, "migrate_without_catching")
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Failed"
    assert final["output"].startswith(
        "Orchestrator function 'migrate_without_catching' failed: "
        "Orchestrator function 'failing_migration' failed: cannot migrate table invoices"
    )
