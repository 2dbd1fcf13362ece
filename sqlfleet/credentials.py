"""Credential secrets: encryption at rest and decryption for activities (the one redaction
rule, ``redact``, is in ``sqlfleet.redaction``).

Password secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under
``SQLFLEET_CREDENTIAL_KEY``. Several comma-separated keys rotate: the first encrypts, any
decrypts. Key Vault and managed identity credentials store no secret at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from sqlfleet.errors import SettingError
from sqlfleet.models.credentials import CredentialIn, CredentialKind, CredentialRecord
from sqlfleet.settings import CREDENTIAL_KEY, Settings, get_settings

_KEY_HELP = (
    'generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())" and set it in the app settings'
)


class CredentialLister(Protocol):
    def list_credentials(self) -> Iterable[Any]: ...


def cipher(settings: Settings) -> MultiFernet:
    """The Fernet cipher of ``SQLFLEET_CREDENTIAL_KEY``; ``SettingError`` if unset or invalid."""
    raw = settings.credential_key
    if not raw:
        raise SettingError(
            CREDENTIAL_KEY,
            f"password credentials need an encryption key, and none is set; {_KEY_HELP}",
        )
    keys = []
    for part in raw.split(","):
        try:
            keys.append(Fernet(part.strip().encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise SettingError(
                CREDENTIAL_KEY,
                f"is not a Fernet key (32 url-safe base64-encoded bytes); {_KEY_HELP}",
            ) from None
    return MultiFernet(keys)


def check_credential_key(settings: Settings, store: CredentialLister | None = None) -> None:
    """Startup check: a set key must be valid, and stored password credentials need a key.

    Raises ``SettingError`` naming ``SQLFLEET_CREDENTIAL_KEY``.
    """
    if settings.credential_key:
        cipher(settings)
        return
    if store is None:
        return
    names = [c.name for c in store.list_credentials() if c.kind == CredentialKind.PASSWORD]
    if names:
        raise SettingError(
            CREDENTIAL_KEY,
            f"the job database holds password credentials ({', '.join(names[:5])}) and no key "
            f"is set to decrypt them; set the key they were encrypted with",
        )


def seal(name: str, document: CredentialIn, settings: Settings) -> CredentialRecord:
    """The record to store for ``document``: its password (if any) encrypted."""
    ciphertext = None
    password = document.password_text
    if document.kind == CredentialKind.PASSWORD and password is not None:
        token = cipher(settings).encrypt(password.encode("utf-8"))
        ciphertext = token.decode("ascii")
    return CredentialRecord(
        name=name,
        kind=document.kind,
        username=document.username,
        secret_ciphertext=ciphertext,
        secret_uri=document.secret_uri,
        client_id=document.client_id,
        description=document.description,
    )


def decrypt_password(record: CredentialRecord, settings: Settings | None = None) -> str:
    """The plain password of a ``password`` credential (activities sign in with it).

    Raises ``SettingError`` when no key is set or the key cannot decrypt it (the key changed),
    ``ValueError`` when the credential is not a password credential.
    """
    if record.kind != CredentialKind.PASSWORD or record.secret_ciphertext is None:
        raise ValueError(f"credential '{record.name}' is a {record.kind.value} credential")
    fernet = cipher(settings or get_settings())
    try:
        return fernet.decrypt(record.secret_ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SettingError(
            CREDENTIAL_KEY,
            f"cannot decrypt credential '{record.name}': it was encrypted with another key; "
            "restore that key (keys may be listed comma-separated) or PUT the credential again",
        ) from None
