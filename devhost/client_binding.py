"""The ``durableClient`` input binding value (reference §4.1, legacy non-gRPC protocol).

The SDK (azure-functions-durable 1.7) builds ``DurableOrchestrationClient`` from this JSON text
and sends every call to ``rpcBaseUrl`` (the trailing slash matters: the SDK appends
``instances/...`` to it), with no key of its own. On Azure that is the extension's loopback-only
RPC listener; here it is this host's own Durable HTTP API with the system key as a path segment,
``{origin}/runtime/webhooks/durabletask-rpc/{system key}/`` (or, on a keyless host,
``{origin}/runtime/webhooks/durabletask/``). The management URLs carry ``code=<system key>``
as Azure's do, and keep the literal ``INSTANCEID`` placeholder that the SDK replaces in
``create_check_status_response``.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from devhost.http.payloads import DEFAULT_CONNECTION, RPC_PATH, WEBHOOK_PATH, management_urls

INSTANCE_ID_PLACEHOLDER = "INSTANCEID"


def rpc_base_url(origin: str, system_key: str | None) -> str:
    """Where the SDK sends its calls (see the module's docstring)."""
    if system_key is None:
        return f"{origin}{WEBHOOK_PATH}/"
    return f"{origin}{RPC_PATH}/{quote(system_key, safe='')}/"


def client_binding(
    origin: str,
    hub_name: str,
    *,
    connection: str | None = None,
    system_key: str | None = None,
) -> dict[str, object]:
    """The binding as a dict; ``origin`` is ``scheme://host:port`` of this host."""
    origin = origin.rstrip("/")
    base_url = origin + WEBHOOK_PATH
    required_query = f"code={quote_plus(system_key)}" if system_key else ""
    creation = f"{base_url}/orchestrators/{{functionName}}[/{{instanceId}}]"
    return {
        "taskHubName": hub_name,
        "creationUrls": {
            "createNewInstancePostUri": f"{creation}?{required_query}",
            "createAndWaitOnNewInstancePostUri": (
                f"{creation}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}"
                f"&{required_query}"
            ),
        },
        "managementUrls": management_urls(
            origin,
            INSTANCE_ID_PLACEHOLDER,
            hub_name,
            connection=connection or DEFAULT_CONNECTION,
            system_key=system_key,
        ),
        "baseUrl": base_url,
        "requiredQueryStringParameters": required_query,
        "rpcBaseUrl": rpc_base_url(origin, system_key),
        "httpBaseUrl": None,
    }


def client_binding_json(
    origin: str,
    hub_name: str,
    *,
    connection: str | None = None,
    system_key: str | None = None,
) -> str:
    """The binding value exactly as the host passes it to the worker: a JSON string."""
    return json.dumps(
        client_binding(origin, hub_name, connection=connection, system_key=system_key)
    )
