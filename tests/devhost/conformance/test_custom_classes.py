"""Custom classes (apps/custom_classes): objects with to_json/from_json as orchestration input,
sub-orchestration input, activity input and activity output; an orchestration output that is
such an object fails, as the SDK (1.7) decides before anything reaches the host."""

from __future__ import annotations

import json

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import HostProcess

APP = "custom_classes"
ORDER = {"sku": "LAMP-7", "quantity": 3, "unitPrice": 12.5}


def start(host: HostProcess, orchestrator: str) -> dict:
    reply = host.call("POST", f"/api/orders/{orchestrator}", ORDER)
    assert reply.status == 202, reply.text
    payload: dict = reply.json()
    assert reply.headers["Location"] == payload["statusQueryGetUri"]
    return payload


def test_objects_round_trip_through_inputs_and_activity_results(app_host: HostProcess):
    started = start(app_host, "bill_order")
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed", final["output"]
    assert final["output"] == {
        "inputType": "Order",
        "invoiceType": "Invoice",
        "total": 45.0,
        "receipt": "Invoice LAMP-7: 45.00",
        "invoice": {"sku": "LAMP-7", "subtotal": 37.5, "tax": 7.5},
        "discounted": {"inputType": "Order", "total": 81.0},
    }
    # The input is kept as the SDK wrote it: the class envelope, as JSON text.
    assert json.loads(final["input"]) == {
        "__class__": "Order",
        "__module__": "function_app",
        "__data__": ORDER,
    }
    names = [e["FunctionName"] for e in flow.events_of(flow.history(started), "TaskCompleted")]
    assert names == ["price_order", "render_receipt"]


def test_returning_an_object_from_an_orchestrator_fails(app_host: HostProcess):
    started = start(app_host, "bill_as_object")
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Failed"
    assert final["output"].startswith(
        "Orchestrator function 'bill_as_object' failed: "
        "Object of type Invoice is not JSON serializable"
    )
