"""Sign-in (sqlfleet.signin): Entra and Key Vault are faked; the bytes and attrs are exact."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from sqlfleet.credentials import seal
from sqlfleet.dialects import SQL_COPT_SS_ACCESS_TOKEN
from sqlfleet.errors import Unsupported
from sqlfleet.models.credentials import CredentialIn, CredentialKind
from sqlfleet.settings import Settings
from sqlfleet.signin import AZURE_SQL_SCOPE, ConnectionAuth, SignInFailed, sign_in

TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL2RhdGFiYXNlLndpbmRvd3MubmV0LyJ9.c2lnbmF0dXJl"


class FakeTokenProvider:
    def __init__(self, token: str = TOKEN, error: Exception | None = None) -> None:
        self.token, self.error, self.scopes = token, error, []

    def get_token(self, *scopes, **kwargs):
        self.scopes.append(scopes)
        if self.error:
            raise self.error
        return SimpleNamespace(token=self.token, expires_on=2_000_000_000)


class FakeVault:
    def __init__(self, value: str | None = "vault-pass", error: Exception | None = None) -> None:
        self.value, self.error, self.calls = value, error, []

    def factory(self, vault_url: str):
        self.calls.append(("client", vault_url))
        return self

    def get_secret(self, name, version=None, **kwargs):
        self.calls.append(("get_secret", name, version))
        if self.error:
            raise self.error
        return SimpleNamespace(value=self.value)


def credential(kind, **fields):
    base = dict(name="cred1", kind=kind, username=None, secret_uri=None, client_id=None)
    return SimpleNamespace(**(base | fields))


def test_managed_identity_gives_the_exact_token_struct():
    provider = FakeTokenProvider()
    auth = sign_in(
        credential(CredentialKind.MANAGED_IDENTITY, client_id="0000-1111"),
        "sqlserver",
        token_provider=provider,
    )
    expected = len(TOKEN * 2).to_bytes(4, "little") + b"".join(bytes([ord(c), 0]) for c in TOKEN)
    assert auth.access_token == expected
    assert auth.attrs_before == {1256: expected}
    assert SQL_COPT_SS_ACCESS_TOKEN in auth.attrs_before
    assert provider.scopes == [(AZURE_SQL_SCOPE,)] == [("https://database.windows.net/.default",)]
    assert auth.user is None and auth.password is None
    assert TOKEN not in repr(auth) and "eyJ" not in repr(auth)


def test_managed_identity_errors_name_the_credential_not_the_token():
    provider = FakeTokenProvider(error=RuntimeError("IMDS endpoint unreachable\nmore"))
    with pytest.raises(SignInFailed) as caught:
        sign_in(credential("managedIdentity"), "sqlserver", token_provider=provider)
    assert caught.value.credential == "cred1"
    assert "RuntimeError: IMDS endpoint unreachable" in caught.value.message
    assert "system-assigned" in caught.value.message


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_managed_identity_only_for_sqlserver(engine):
    with pytest.raises(Unsupported) as caught:
        sign_in(credential("managedIdentity"), engine, token_provider=FakeTokenProvider())
    assert engine in caught.value.message and "cred1" in caught.value.message


def test_password_credential_with_a_plain_password():
    auth = sign_in(credential("password", username="app"), "postgresql", password="s3cret;}")
    assert (auth.user, auth.password, auth.access_token) == ("app", "s3cret;}", None)
    assert auth.attrs_before == {}
    assert "s3cret" not in repr(auth)
    assert auth.secrets == ("s3cret;}",)


def test_password_credential_is_decrypted_with_the_key(tmp_path: Path):
    settings = Settings(tmp_path, "sqlite://", credential_key=Fernet.generate_key().decode())
    document = CredentialIn(kind="password", username="app", password="hunter2")
    record = seal("cred2", document, settings)
    assert "hunter2" not in repr(record)
    auth = sign_in(record, "mysql", settings=settings)
    assert (auth.user, auth.password) == ("app", "hunter2")


def test_key_vault_secret_is_read_from_the_uri():
    vault = FakeVault("from-vault")
    uri = "https://myvault.vault.azure.net/secrets/sql-password/0123abcd"
    auth = sign_in(
        credential("keyVault", username="app", secret_uri=uri),
        "sqlserver",
        secret_client_factory=vault.factory,
    )
    assert (auth.user, auth.password) == ("app", "from-vault")
    assert vault.calls == [
        ("client", "https://myvault.vault.azure.net"),
        ("get_secret", "sql-password", "0123abcd"),
    ]


@pytest.mark.parametrize(
    ("vault", "uri", "expected"),
    [
        (FakeVault(), "not a uri", "is not a Key Vault secret URI"),
        (FakeVault(error=PermissionError("403 Forbidden")), None, "PermissionError: 403 Forbidden"),
        (FakeVault(value=""), None, "is empty"),
    ],
)
def test_key_vault_failures(vault, uri, expected):
    uri = uri or "https://myvault.vault.azure.net/secrets/sql-password"
    with pytest.raises(SignInFailed) as caught:
        sign_in(
            credential("keyVault", username="app", secret_uri=uri),
            "postgresql",
            secret_client_factory=vault.factory,
        )
    assert expected in caught.value.message


def test_sqlite_needs_no_credential_and_others_do():
    assert sign_in(None, "sqlite") == ConnectionAuth()
    with pytest.raises(SignInFailed):
        sign_in(None, "postgresql")
    with pytest.raises(SignInFailed) as caught:
        sign_in(credential("password"), "postgresql", password="x")
    assert "username" in caught.value.message
