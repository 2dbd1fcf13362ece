"""Signing in to a target: a stored credential becomes what the ODBC driver needs.

- ``password``: user name and the decrypted password.
- ``keyVault``: user name and the password read from the Key Vault secret (azure-keyvault-secrets
  with ``DefaultAzureCredential``, which is the managed identity on Azure).
- ``managedIdentity``: a Microsoft Entra access token for Azure SQL from azure-identity's
  ``ManagedIdentityCredential`` (``client_id`` picks a user-assigned identity), handed to the
  driver as the ``SQL_COPT_SS_ACCESS_TOKEN`` pre-connect attribute. Only ``sqlserver`` takes it.

Activities call ``sign_in``; secrets live only in the returned ``ConnectionAuth`` and never in
its ``repr``. Token and secret providers are injectable because Entra and Key Vault do not
exist in tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from sqlfleet.engines import SQL_COPT_SS_ACCESS_TOKEN, access_token_struct
from sqlfleet.errors import SqlFleetError, Unsupported, first_line

AZURE_SQL_SCOPE = "https://database.windows.net/.default"


class SignInFailed(SqlFleetError):
    """A credential could not be turned into a sign-in (``credential`` names it)."""

    code = "SignInFailed"

    def __init__(self, credential: str, reason: str) -> None:
        self.credential = credential
        self.reason = reason
        super().__init__(f"credential '{credential}': {reason}")


class CredentialLike(Protocol):
    """What ``sign_in`` reads (``sqlfleet.models.credentials.CredentialRecord`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> Any: ...
    @property
    def username(self) -> str | None: ...
    @property
    def secret_uri(self) -> str | None: ...
    @property
    def client_id(self) -> str | None: ...


class TokenProvider(Protocol):
    """azure-identity's ``TokenCredential``: ``get_token(scope).token`` is the access token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class SecretClientLike(Protocol):
    def get_secret(self, name: str, version: str | None = None, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class ConnectionAuth:
    """How to sign in: ``user``/``password``, or an access token struct, or nothing (sqlite)."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    access_token: bytes | None = field(default=None, repr=False)

    @property
    def attrs_before(self) -> dict[int, bytes]:
        """pyodbc ``attrs_before``: the token struct under ``SQL_COPT_SS_ACCESS_TOKEN``."""
        if self.access_token is None:
            return {}
        return {SQL_COPT_SS_ACCESS_TOKEN: self.access_token}

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must be scrubbed from any text shown to people (error messages)."""
        return (self.password,) if self.password else ()

    def __repr__(self) -> str:
        shown = "token" if self.access_token is not None else "***" if self.password else None
        return f"ConnectionAuth(user={self.user!r}, secret={shown!r})"


def sign_in(
    credential: CredentialLike | None,
    engine: str | Enum,
    *,
    password: str | None = None,
    settings: Any = None,
    token_provider: TokenProvider | None = None,
    secret_client_factory: Callable[[str], SecretClientLike] | None = None,
) -> ConnectionAuth:
    """The ``ConnectionAuth`` for ``credential`` on a target of ``engine``.

    ``password``: the plain password of a ``password`` credential if the caller already decrypted
    it; otherwise it is decrypted here with ``settings`` (``sqlfleet.credentials.decrypt_password``;
    its ``SettingError`` propagates).
    ``token_provider``: replaces ``ManagedIdentityCredential(client_id=...)``.
    ``secret_client_factory(vault_url)``: replaces
    ``SecretClient(vault_url, DefaultAzureCredential())``.
    ``sqlite`` targets need no sign-in (``credential`` may be None).

    Raises ``SignInFailed`` (missing pieces, Key Vault or Entra errors; the message names the
    credential, never a secret) and ``Unsupported`` (a managed identity on a non-sqlserver engine).
    """
    engine_name = _text(engine)
    if engine_name == "sqlite":
        return ConnectionAuth()
    if credential is None:
        raise SignInFailed("(none)", f"{engine_name} targets need a credential; name one")
    kind = _text(credential.kind).lower()
    if kind == "password":
        if password is None:
            from sqlfleet.credentials import decrypt_password

            password = decrypt_password(credential, settings)  # type: ignore[arg-type]
        return ConnectionAuth(user=_user(credential), password=password)
    if kind == "keyvault":
        secret = _read_secret(credential, secret_client_factory or _default_secret_client)
        return ConnectionAuth(user=_user(credential), password=secret)
    if kind == "managedidentity":
        if engine_name != "sqlserver":
            raise Unsupported(
                f"managedIdentity sign-in for {engine_name} targets",
                field="credential_name",
                hint=f"credential '{credential.name}' is a managed identity, which only "
                "sqlserver targets accept; use a password or keyVault credential",
            )
        provider = token_provider or _managed_identity(credential.client_id)
        return ConnectionAuth(access_token=_token_struct(credential, provider))
    raise SignInFailed(credential.name, f"unknown credential kind '{kind}'")


def _text(value: Any) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def _user(credential: CredentialLike) -> str:
    if not credential.username:
        raise SignInFailed(credential.name, "has no username; set one")
    return credential.username


def _read_secret(credential: CredentialLike, factory: Callable[[str], SecretClientLike]) -> str:
    from azure.keyvault.secrets import KeyVaultSecretIdentifier

    uri = credential.secret_uri or ""
    try:
        identifier = KeyVaultSecretIdentifier(uri)
    except ValueError:
        raise SignInFailed(
            credential.name,
            f"secret_uri '{uri}' is not a Key Vault secret URI "
            "(https://<vault>.vault.azure.net/secrets/<name>[/<version>])",
        ) from None
    try:
        secret = factory(identifier.vault_url).get_secret(identifier.name, identifier.version)
    except Exception as error:  # azure-core raises many types; all mean "no secret"
        raise SignInFailed(
            credential.name,
            f"could not read Key Vault secret '{identifier.name}' from {identifier.vault_url}: "
            f"{type(error).__name__}: {first_line(error, 10_000, 'no details')}",
        ) from None
    value = getattr(secret, "value", None)
    if not value:
        raise SignInFailed(credential.name, f"Key Vault secret '{identifier.name}' is empty")
    return str(value)


def _token_struct(credential: CredentialLike, provider: TokenProvider) -> bytes:
    try:
        token = provider.get_token(AZURE_SQL_SCOPE).token
    except Exception as error:  # azure-identity raises several types; all mean "no token"
        who = f"client id {credential.client_id}" if credential.client_id else "system-assigned"
        raise SignInFailed(
            credential.name,
            f"could not get a Microsoft Entra token for Azure SQL from the managed identity "
            f"({who}): {type(error).__name__}: {first_line(error, 10_000, 'no details')}",
        ) from None
    try:
        return access_token_struct(token)
    except ValueError as error:
        raise SignInFailed(credential.name, str(error)) from None


@functools.lru_cache(maxsize=16)
def _managed_identity(client_id: str | None) -> TokenProvider:
    # One credential per identity: azure-identity caches tokens per instance, so every target
    # of a fan-out reuses the token instead of asking the identity endpoint again.
    from azure.identity import ManagedIdentityCredential

    if client_id:
        return ManagedIdentityCredential(client_id=str(client_id))
    return ManagedIdentityCredential()


@functools.lru_cache(maxsize=16)
def _default_secret_client(vault_url: str) -> SecretClientLike:
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    return SecretClient(vault_url=vault_url, credential=DefaultAzureCredential())
