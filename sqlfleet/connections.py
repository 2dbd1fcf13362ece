"""How activities sign in: a credential name resolved to a ``ConnectionAuth`` inside the activity
(and the API, when it lists a server's databases for a preview).

Secrets are decrypted or fetched here and live only in the returned object: orchestrations
carry credential names, never secrets.
"""

from __future__ import annotations

from typing import Any

from sqlfleet.runtime import settings
from sqlfleet.signin import ConnectionAuth, sign_in
from sqlfleet.store import JobStore


def credential_auth(store: JobStore, credential_name: str | None, engine: str) -> ConnectionAuth:
    """Sign-in for ``credential_name`` on an ``engine`` target; no credential: no sign-in
    (sqlite, or a driver-side trusted connection)."""
    record = store.get_credential_record(credential_name) if credential_name else None
    return sign_in(record, engine, settings=settings())


def member_auth(store: JobStore, member: Any) -> ConnectionAuth:
    """Sign-in for listing the databases of a server or pool member (its refresh credential)."""
    engine = str(getattr(member.engine, "value", member.engine))
    return credential_auth(store, getattr(member, "refresh_credential_name", None), engine)
