"""Documents the foundation tests send, and a small fleet most tests start from."""

from __future__ import annotations

from typing import Any

SECRET = "S3cr3t-Pa55w0rd-never-shown"

PASSWORD = {"kind": "password", "username": "fleet_user", "password": SECRET}
KEY_VAULT = {
    "kind": "keyVault",
    "username": "fleet_user",
    "secret_uri": "https://fleetvault.vault.azure.net/secrets/sql-password",
}
MANAGED = {"kind": "managedIdentity"}
DATABASE_MEMBER = {
    "target_type": "database",
    "server_name": "sql1.example.net",
    "database_name": "db1",
}
GROUP = {"description": "two servers", "members": [DATABASE_MEMBER]}


def step(**fields: Any) -> dict[str, Any]:
    document = {"command": "SELECT 1", "target_group_name": "g", "credential_name": "pw"}
    document.update(fields)
    return document


def seed(api: Any) -> None:
    """Credentials pw (password), kv (Key Vault), mi (managed identity); group g; job j with
    one step (version 1)."""
    assert api.put("/api/credentials/pw", PASSWORD).status == 201
    assert api.put("/api/credentials/kv", KEY_VAULT).status == 201
    assert api.put("/api/credentials/mi", MANAGED).status == 201
    assert api.put("/api/target-groups/g", GROUP).status == 201
    reply = api.put("/api/jobs/j", {"steps": [step(step_name="first")]})
    assert reply.status == 201, reply.body
