"""Durable entities (apps/entities): a counter signalled through the durable client, through
``/runtime/webhooks/durabletask/entities/{name}/{key}`` and from an orchestrator.

How an operation input reaches a Python entity on Azure (extension sources,
``RequestMessage.SetInput`` and ``EntityTriggerAttributeBindingProvider.EntityContextToString``;
SDK ``DurableEntityContext.get_input``): the request's input is kept as JSON text, passed to the
worker as a JSON string, and the SDK decodes it twice (``json.loads`` then ``df_loads``). The
Python client posts ``json.dumps(value)`` as its JSON body, and an orchestrator's signal or call
carries the SDK's ``df_dumps(value)`` text, so in all those cases the entity gets back the
original value: ``client.signal_entity(id, "add", 5)`` makes ``get_input()`` return the int 5,
as Microsoft's counter sample relies on (``current_value += context.get_input()``).
"""

from __future__ import annotations

import uuid

from tests.devhost.conformance import flow
from tests.devhost.host.hostproc import WEBHOOK, HostProcess, poll

APP = "entities"


def new_key() -> str:
    return f"k-{uuid.uuid4().hex[:10]}"


def webhook_state(host: HostProcess, key: str) -> object:
    """The entity's state through the HTTP API, or None while it does not exist (404)."""
    reply = host.call("GET", f"{WEBHOOK}/entities/Counter/{key}")
    assert reply.status in (200, 404), (reply.status, reply.text)
    return reply.json() if reply.status == 200 else None


def client_state(host: HostProcess, key: str) -> dict:
    """read_entity_state through the app's own HTTP function."""
    reply = host.call("GET", f"/api/counters/{key}")
    assert reply.status == 200, reply.text
    body: dict = reply.json()
    return body


def reaches(host: HostProcess, key: str, value: int) -> None:
    poll(lambda: webhook_state(host, key) == value, 5, f"entity {key} to hold {value}")


def test_orchestrator_signals_and_calls_the_entity(app_host: HostProcess):
    key = new_key()
    started = flow.start(app_host, "count_visits", {"key": key})
    final = flow.wait(started)
    assert final["runtimeStatus"] == "Completed"
    # The signal (10) is delivered before the call that follows it from the same orchestrator.
    assert final["output"] == {"afterAdd": 15, "current": 15}
    assert webhook_state(app_host, key) == 15
    assert client_state(app_host, key) == {"exists": True, "state": 15}
    assert webhook_state(app_host, new_key()) is None
    assert client_state(app_host, new_key()) == {"exists": False, "state": None}


def test_list_entities_and_delete(app_host: HostProcess):
    keys = [new_key(), new_key()]
    for key in keys:
        assert flow.wait(flow.start(app_host, "count_visits", {"key": key}))["output"] == {
            "afterAdd": 15,
            "current": 15,
        }
    listed = app_host.call("GET", f"{WEBHOOK}/entities/Counter?fetchState=true")
    assert listed.status == 200
    mine = {e["entityId"]["key"]: e for e in listed.json() if e["entityId"]["key"] in keys}
    assert set(mine) == set(keys)
    for entity in mine.values():
        # Entity names are case-insensitive and come back lower-cased.
        assert entity["entityId"]["name"] == "counter"
        assert entity["state"] == 15
        assert entity["lastOperationTime"]
    without_state = app_host.call("GET", f"{WEBHOOK}/entities/counter").json()
    assert {e["entityId"]["key"] for e in without_state} >= set(keys)
    assert all(e["state"] is None for e in without_state)

    deleted = app_host.call("DELETE", f"{WEBHOOK}/entities/Counter/{keys[0]}")
    assert (deleted.status, deleted.body) == (202, b"")
    poll(lambda: webhook_state(app_host, keys[0]) is None, 15, "the entity to be deleted")
    assert client_state(app_host, keys[0]) == {"exists": False, "state": None}
    assert webhook_state(app_host, keys[1]) == 15


def test_signal_through_the_durable_client(app_host: HostProcess):
    key = new_key()
    for amount in (5, 2):
        reply = app_host.call("POST", f"/api/counters/{key}/add", amount)
        assert reply.status == 202, reply.text
    reaches(app_host, key, 7)
    assert client_state(app_host, key) == {"exists": True, "state": 7}
    assert app_host.call("POST", f"/api/counters/{key}/reset").status == 202
    reaches(app_host, key, 0)


def test_signal_through_the_entities_webhook(app_host: HostProcess):
    key = new_key()
    path = f"{WEBHOOK}/entities/Counter/{key}"
    # The body the Python client itself sends: a JSON string holding the JSON of the value.
    as_the_sdk = app_host.call("POST", f"{path}?op=add", "3")
    assert (as_the_sdk.status, as_the_sdk.body) == (202, b"")
    # A non-JSON body is passed on as a string, serialized like the client's.
    as_text = app_host.call(
        "POST", f"{path}?op=add", raw=b"4", headers={"Content-Type": "text/plain"}
    )
    assert (as_text.status, as_text.body) == (202, b"")
    reaches(app_host, key, 7)
    # No body: the operation gets no input.
    reset = app_host.call("POST", f"{path}?op=reset")
    assert (reset.status, reset.body) == (202, b"")
    reaches(app_host, key, 0)
