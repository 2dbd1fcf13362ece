"""The ``durableClient`` input binding value (reference §4.1, legacy non-gRPC protocol).

The SDK (azure-functions-durable 1.7) builds ``DurableOrchestrationClient`` from this JSON text
and sends every call to ``rpcBaseUrl``; here that is this host's own Durable HTTP API,
``{origin}/runtime/webhooks/durabletask/`` (the trailing slash matters: the SDK appends
``instances/...`` to it). The management URLs keep the literal ``INSTANCEID`` placeholder that the
SDK replaces in ``create_check_status_response``.
"""

from __future__ import annotations

import json
from urllib.parse import quote_plus

from devhost.http.payloads import DEFAULT_CONNECTION, WEBHOOK_PATH, management_urls

INSTANCE_ID_PLACEHOLDER = "INSTANCEID"


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
        "rpcBaseUrl": base_url + "/",
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
