"""A short password does not garble what the API says: redaction masks secrets as whole values.

A credential whose password is one letter signs in to a PostgreSQL database that does not
exist; the server's message ("database ... does not exist") comes back whole, not with the
letter masked inside its words.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from tests.jobs.fleet import step, unique
from tests.jobs.host import JobsHost
from tests.support.servers import ServerAddress


@pytest.mark.postgres
def test_a_one_letter_password_leaves_the_drivers_message_whole(
    badinput_host: JobsHost, postgres_server: ServerAddress
) -> None:
    credential, group, job = unique("short-pw"), unique("short-pw"), unique("short-pw")
    # The letter occurs in the message twice ("does not exist"); trust auth ignores it.
    badinput_host.ok(
        "PUT",
        f"/api/credentials/{quote(credential)}",
        {"kind": "password", "username": postgres_server.user, "password": "e"},
    )
    database = f"no_such_db_{uuid.uuid4().hex[:8]}"
    member = {
        "target_type": "database",
        "engine": "postgresql",
        "server_name": postgres_server.host,
        "port": postgres_server.port,
        "database_name": database,
    }
    badinput_host.ok("PUT", f"/api/target-groups/{quote(group)}", {"members": [member]})
    badinput_host.put_job(job, [step("s", "SELECT 1", group, credential_name=credential)])

    execution = badinput_host.run_job(job, timeout=90)

    (target,) = badinput_host.targets(execution["job_execution_id"])
    assert target["lifecycle"] == "Failed", target
    message = target["last_message"]
    assert f'database "{database}" does not exist' in message, message
    assert "***" not in message, message
