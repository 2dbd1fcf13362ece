"""Driving an app the way a client of a deployed app does: only over HTTP.

An orchestration is started through the app's own HTTP starter function (``POST
/api/orchestrators/{name}``, as in Microsoft's samples), and everything after that goes through
the management URLs of the 202 answer it returns, or through the documented
``/runtime/webhooks/durabletask/...`` routes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.devhost.host.hostproc import FINISHED, HostProcess, Reply, call, poll

# The SDK's create_check_status_response copies the binding's managementUrls (the extension's
# HttpManagementPayload), which include rewindPostUri.
MANAGEMENT_KEYS = {
    "id",
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "rewindPostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
}
RUNNING = ("Pending", "Running", "ContinuedAsNew", "Suspended")


def start(
    host: HostProcess, orchestrator: str, body: Any = None, *, query: str = ""
) -> dict[str, str]:
    """Start ``orchestrator`` through the app's HTTP starter; check the 202 it answers."""
    reply = host.call("POST", f"/api/orchestrators/{orchestrator}{query}", body)
    assert reply.status == 202, (reply.status, reply.text)
    assert reply.headers["Content-Type"].startswith("application/json")
    payload = reply.json()
    assert set(payload) == MANAGEMENT_KEYS, payload
    assert reply.headers["Location"] == payload["statusQueryGetUri"]
    assert reply.headers["Retry-After"] == "10"
    return payload


def status(payload: dict[str, str], query: str = "") -> Reply:
    """GET statusQueryGetUri (extra query parameters appended)."""
    return call("GET", payload["statusQueryGetUri"] + query)


def wait(
    payload: dict[str, str],
    statuses: tuple[str, ...] = FINISHED,
    timeout: float = 30,
    query: str = "",
) -> dict[str, Any]:
    """Poll statusQueryGetUri until runtimeStatus is one of ``statuses``; return the body.

    Every answer on the way is checked as ``HandleGetStatusRequestAsync`` writes it: 202 with
    ``Location`` (the URL asked) and ``Retry-After: 5`` while the instance runs, 200 without
    ``Location`` once it has finished (Failed included: no returnInternalServerErrorOnFailure).
    """

    url = payload["statusQueryGetUri"] + query

    def reached() -> dict[str, Any] | None:
        reply = call("GET", url)
        body = reply.json()
        if body["runtimeStatus"] in RUNNING:
            assert reply.status == 202, (reply.status, body)
            assert reply.headers["Location"] == url
            assert reply.headers["Retry-After"] == "5"
        else:
            assert reply.status == 200, (reply.status, body)
            assert "Location" not in reply.headers
        return body if body["runtimeStatus"] in statuses else None

    return poll(reached, timeout, f"{payload['id']} to reach {statuses}")


def history(payload: dict[str, str]) -> list[dict[str, Any]]:
    """historyEvents of the status answer, with inputs and outputs."""
    reply = status(payload, "&showHistory=true&showHistoryOutput=true")
    assert reply.status in (200, 202), reply.text
    events: list[dict[str, Any]] = reply.json()["historyEvents"]
    return events


def events_of(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [e for e in events if e["EventType"] in types]


def raise_event(payload: dict[str, str], name: str, body: Any) -> Reply:
    """POST sendEventPostUri with ``{eventName}`` filled in and a JSON body."""
    return call("POST", payload["sendEventPostUri"].replace("{eventName}", quote(name)), body)


def terminate(payload: dict[str, str], reason: str) -> Reply:
    """POST terminatePostUri with ``{text}`` filled in."""
    return call("POST", payload["terminatePostUri"].replace("{text}", quote(reason)))


def purge(payload: dict[str, str]) -> Reply:
    """DELETE purgeHistoryDeleteUri."""
    return call("DELETE", payload["purgeHistoryDeleteUri"])
