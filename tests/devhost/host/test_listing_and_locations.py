"""List endpoints and ``Location`` headers of the Durable HTTP API, as HttpApiHandler sends them.

``HandleListEntitiesRequestAsync`` lists every entity of the hub when the route has no entity
name (``OrchestrationStatusQueryCondition`` then filters on the ``@`` prefix); list answers carry
``x-ms-continuation-token`` only when another page exists; a 202 status answer's ``Location`` is
the request URL (``location = request.RequestUri``) while a start answer's is the
``statusQueryGetUri`` (``CreateCheckStatusResponseMessage``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.devhost.host.hostproc import WEBHOOK, HostProcess, Reply, poll

TOKEN = "x-ms-continuation-token"


def _pages(devhost: HostProcess, path: str) -> list[Reply]:
    """Every page of a list endpoint, following the continuation token until it is absent."""
    pages: list[Reply] = []
    token = None
    while len(pages) < 1000:
        reply = devhost.call("GET", path, headers={TOKEN: token} if token else None)
        assert reply.status == 200, (reply.status, reply.body)
        pages.append(reply)
        token = reply.headers.get(TOKEN)
        if token is None:
            return pages
        assert token, "an empty continuation token was answered"
    raise AssertionError(f"{path} kept answering continuation tokens")


def _counter_keys(entities: list[dict[str, Any]]) -> list[str]:
    return [e["entityId"]["key"] for e in entities if e["entityId"]["name"] == "counter"]


def test_entities_without_a_name_lists_every_entity_of_the_hub(devhost: HostProcess):
    keys = [f"all-{uuid.uuid4().hex[:10]}-{n}" for n in range(3)]
    for key in keys:
        devhost.call("POST", f"{WEBHOOK}/entities/counter/{key}?op=add", "2")  # as the SDK does
    poll(
        lambda: all(
            devhost.call("GET", f"{WEBHOOK}/entities/counter/{key}").status == 200 for key in keys
        ),
        30,
        "the entities to exist",
    )

    for path in (f"{WEBHOOK}/entities", f"{WEBHOOK}/entities/"):
        pages = _pages(devhost, f"{path}?top=2&fetchState=true")
        assert all(len(page.json()) <= 2 for page in pages)
        assert len(pages) >= 2, "three new entities and the ticks counter need two pages"
        listed = [entity for page in pages for entity in page.json()]
        ids = [(e["entityId"]["name"], e["entityId"]["key"]) for e in listed]
        assert len(ids) == len(set(ids)), "an entity was listed twice across pages"
        mine = {e["entityId"]["key"]: e["state"] for e in listed if e["entityId"]["key"] in keys}
        assert mine == dict.fromkeys(keys, 2)

    by_name = _counter_keys(devhost.call("GET", f"{WEBHOOK}/entities/counter?top=1000").json())
    unnamed = devhost.call("GET", f"{WEBHOOK}/entities?top=1000")
    assert TOKEN not in unnamed.headers
    assert set(keys) <= set(_counter_keys(unnamed.json())) and set(keys) <= set(by_name)
    assert all(e["state"] is None for e in unnamed.json())
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    future = devhost.call("GET", f"{WEBHOOK}/entities?lastOperationTimeFrom={later}")
    assert (future.status, future.json(), TOKEN in future.headers) == (200, [], False)


def test_instance_lists_answer_a_token_only_when_another_page_exists(devhost: HostProcess):
    prefix = f"pages-{uuid.uuid4().hex[:10]}"
    ids = [devhost.start_orchestration("chain", None, f"{prefix}-{n}") for n in range(3)]
    for instance in ids:
        devhost.wait_for_status(instance)

    query = f"{WEBHOOK}/instances/?instanceIdPrefix={prefix}"
    pages = _pages(devhost, f"{query}&top=2")
    assert [len(page.json()) for page in pages] == [2, 1]
    assert sorted(s["instanceId"] for page in pages for s in page.json()) == sorted(ids)
    exact = devhost.call("GET", f"{query}&top=3")
    assert len(exact.json()) == 3 and TOKEN not in exact.headers


def test_location_headers(devhost: HostProcess):
    started = devhost.call("POST", f"{WEBHOOK}/orchestrators/waiter/{uuid.uuid4().hex}")
    assert started.status == 202
    assert started.headers["Location"] == started.json()["statusQueryGetUri"]
    instance = started.json()["id"]
    devhost.wait_for_status(instance, ("Running",))

    for query in ("", "?taskHub=SampleHub&connection=Storage&showInput=false&showHistory=true"):
        url = f"{devhost.base}{WEBHOOK}/instances/{instance}{query}"
        running = devhost.call("GET", f"{WEBHOOK}/instances/{instance}{query}")
        assert running.status == 202
        assert (running.headers["Location"], running.headers["Retry-After"]) == (url, "5")

    devhost.call("POST", f"{WEBHOOK}/instances/{instance}/terminate?reason=done")
    devhost.wait_for_status(instance)
    finished = devhost.status(instance)
    assert finished.status == 200 and "Location" not in finished.headers
