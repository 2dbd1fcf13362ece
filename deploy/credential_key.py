"""azd's preprovision hook: make sure the azd environment holds ``SQLFLEET_CREDENTIAL_KEY``.

The key is the Fernet key that encrypts password credentials at rest. ``infra/`` stores it in
Key Vault and the Function App reads it through a Key Vault reference; azd keeps it in
``.azure/<environment>/.env`` so that every later ``azd provision`` writes the same key (a new key
would leave the stored passwords unreadable). An existing value is checked, never replaced.

It hands the key to ``azd env set --file`` through a private temporary file, so the key never
appears on a command line. Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence

SETTING = "SQLFLEET_CREDENTIAL_KEY"
KEY_BYTES = 32


class CredentialKeyError(Exception):
    """The environment's key is unusable, or azd would not store a new one."""


def new_key() -> str:
    """A Fernet key: 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def check_key(value: str) -> None:
    """Raise ``CredentialKeyError`` unless ``value`` is a Fernet key (never shown in errors)."""
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise CredentialKeyError(
            f"{SETTING} in the azd environment is not a Fernet key (32 bytes, URL-safe base64); "
            f"fix it with 'azd env set {SETTING} ...' or remove it from .azure/<env>/.env to "
            "have a new one made (passwords stored under the old key must then be applied again)"
        )


def store(key: str, azd: str = "azd") -> None:
    """``azd env set --file`` with a 0600 temporary file that is removed afterwards."""
    descriptor, path = tempfile.mkstemp(prefix="sqlfleet-key-", suffix=".env")
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(f"{SETTING}={key}\n")
        result = subprocess.run(
            [azd, "env", "set", "--file", path], capture_output=True, text=True, check=False
        )
    finally:
        os.unlink(path)
    if result.returncode != 0:
        raise CredentialKeyError(
            f"'azd env set --file' failed ({result.stderr.strip() or result.returncode}); "
            f'update azd, or set the key yourself: azd env set {SETTING} "$(python3 -c '
            "'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')\""
        )


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    azd: str = "azd",
) -> int:
    del argv
    env = os.environ if environ is None else environ
    current = env.get(SETTING, "").strip()
    try:
        if current:
            check_key(current)
            print(f"credential_key: {SETTING} is set; keeping it", file=sys.stderr)
            return 0
        store(new_key(), azd)
    except (CredentialKeyError, OSError) as error:
        print(f"credential_key: {error}", file=sys.stderr)
        return 1
    print(f"credential_key: made a new {SETTING} for this azd environment", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
