"""Credentials: how SQL Fleet signs in to targets (and to servers to list their databases)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, model_validator

from sqlfleet.models.common import (
    MAX_NAME_LENGTH,
    TEXT_PATTERN,
    ApiModel,
    Description,
    DocumentModel,
    Name,
    Uuid,
    check_text,
    field_error,
    spelled,
)

MAX_PASSWORD_LENGTH = 1024
MAX_SECRET_URI_LENGTH = 2048


class CredentialKind(str, Enum):
    PASSWORD = "password"
    KEY_VAULT = "keyVault"
    MANAGED_IDENTITY = "managedIdentity"


UserName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        strict=True,
        json_schema_extra={"pattern": TEXT_PATTERN},
    ),
    AfterValidator(check_text),
]


# The CLI takes any case (keyvault, ManagedIdentity): the API the usual ones.
_KIND = spelled(
    CredentialKind,
    {
        spelling: kind.value
        for kind in CredentialKind
        for spelling in (kind.value.lower(), kind.value[0].upper() + kind.value[1:])
    },
)


class CredentialIn(ApiModel):
    """A credential as clients send it (PUT /api/credentials/{name}).

    - ``password``: ``username`` + ``password`` (encrypted at rest, never returned).
    - ``keyVault``: ``username`` + ``secret_uri`` of a Key Vault secret holding the password.
    - ``managedIdentity``: Microsoft Entra token of the app's identity; ``client_id`` selects a
      user-assigned identity; ``username`` only where the engine needs a role name (PostgreSQL).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kind": "password", "username": "jobuser", "password": "example-Pa55word-7f3a"},
                {
                    "kind": "keyVault",
                    "username": "jobuser",
                    "secret_uri": "https://myvault.vault.azure.net/secrets/sql-password",
                },
                {"kind": "managedIdentity"},
            ]
        }
    )

    name: Name | None = None
    kind: Annotated[CredentialKind, _KIND[0], _KIND[1]]
    username: UserName | None = None
    password: SecretStr | None = None
    secret_uri: Annotated[str, Field(max_length=MAX_SECRET_URI_LENGTH, strict=True)] | None = None
    client_id: Uuid | None = None
    description: Description = ""
    # A login without a password (a local server's) must be asked for: an empty password is
    # far more often a missing environment variable.
    empty_password: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="after")
    def _kind_rules(self) -> CredentialIn:
        kind = self.kind
        if kind in (CredentialKind.PASSWORD, CredentialKind.KEY_VAULT) and self.username is None:
            raise field_error("username", f"a {kind.value} credential needs a username")
        if kind == CredentialKind.PASSWORD:
            secret = self.password.get_secret_value() if self.password is not None else ""
            if self.empty_password and secret:
                raise field_error("password", "empty_password is true but a password was given")
            if not secret and not self.empty_password:
                raise field_error(
                    "password",
                    "a password credential needs a password (for a login without one, send "
                    '"empty_password": true)',
                )
            if len(secret) > MAX_PASSWORD_LENGTH:
                raise field_error(
                    "password", f"passwords are limited to {MAX_PASSWORD_LENGTH} characters"
                )
            self._refuse("secret_uri", "client_id")
        elif kind == CredentialKind.KEY_VAULT:
            if self.secret_uri is None:
                raise field_error(
                    "secret_uri",
                    "a keyVault credential needs secret_uri, e.g. "
                    "https://myvault.vault.azure.net/secrets/sql-password",
                )
            _check_secret_uri(self.secret_uri)
            self._refuse("password", "client_id")
        else:
            self._refuse("password", "secret_uri")
        if self.empty_password and kind != CredentialKind.PASSWORD:
            raise field_error("empty_password", "applies only to a password credential")
        return self

    @property
    def password_text(self) -> str | None:
        """The password to store: the one given, "" when empty_password, else None."""
        if self.password is not None:
            return self.password.get_secret_value()
        return "" if self.empty_password else None

    def _refuse(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) is not None:
                raise field_error(name, f"{name} does not apply to a {self.kind.value} credential")


def _check_secret_uri(uri: str) -> None:
    parts = urlsplit(uri)
    segments = [segment for segment in parts.path.split("/") if segment]
    if (
        parts.scheme != "https"
        or not parts.hostname
        or len(segments) not in (2, 3)
        or segments[0] != "secrets"
        or parts.query
        or parts.fragment
    ):
        raise field_error(
            "secret_uri",
            "expected a Key Vault secret URI https://<vault>.vault.azure.net/secrets/<name> "
            "(optionally /<version>)",
        )


class Credential(DocumentModel):
    """A credential as the API shows it: never the secret, only whether one is stored."""

    name: str
    credential_id: str
    kind: CredentialKind
    username: str | None
    has_secret: bool
    secret_uri: str | None
    client_id: str | None
    description: str
    created_time: dt.datetime
    modified_time: dt.datetime


@dataclass(frozen=True)
class CredentialRecord:
    """A credential as stored: what activities need to sign in. The password stays encrypted
    (``sqlfleet.credentials.decrypt_password``); ``repr`` never shows the ciphertext."""

    name: str
    kind: CredentialKind
    username: str | None = None
    secret_ciphertext: str | None = field(default=None, repr=False)
    secret_uri: str | None = None
    client_id: str | None = None
    description: str = ""
