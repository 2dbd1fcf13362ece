"""A password given to the API appears in no response, no log record and no stored row in plain
text; password credentials need SQLFLEET_CREDENTIAL_KEY, and say so."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sqlfleet.credentials import check_credential_key, decrypt_password, seal
from sqlfleet.errors import SettingError
from sqlfleet.models import CredentialIn, CredentialKind, validate_document
from sqlfleet.redaction import redact
from sqlfleet.runtime import use_job_store
from sqlfleet.settings import Settings, load_settings
from sqlfleet.store import SqlJobStore, open_job_store
from tests.foundation.conftest import raw_connection
from tests.foundation.fleet import PASSWORD, SECRET, seed, step


def all_values(store: SqlJobStore, backend: str, request: pytest.FixtureRequest) -> list[Any]:
    """Every value of every column of every table, read around the store."""
    connection = raw_connection(store, backend, request)
    values: list[Any] = []
    try:
        if backend == "sqlite":
            tables = [
                r[0]
                for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
        else:
            tables = [
                r[0]
                for r in connection.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            ]
        assert "credentials" in tables and "job_steps" in tables
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                values.extend(row)
    finally:
        connection.close()
    return values


def test_password_appears_in_no_response_log_or_row(
    api: Any,
    store: SqlJobStore,
    backend: str,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy holds its loggers at WARNING unless told otherwise: open them up too.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    replies = []
    replies.append(api.put("/api/credentials/pw", PASSWORD))
    replies.append(api.put("/api/credentials/pw", {**PASSWORD, "description": "again"}))
    replies.append(api.get("/api/credentials/pw"))
    replies.append(api.get("/api/credentials"))
    # Rejected documents that carry the password must not echo it either.
    replies.append(api.put("/api/credentials/bad", {**PASSWORD, "unknown": SECRET}))
    replies.append(api.put("/api/credentials/bad", {"kind": "managedIdentity", "password": SECRET}))
    replies.append(api.put("/api/credentials/bad", {**PASSWORD, "password": SECRET * 100}))
    replies.append(api.put("/api/credentials/bad", {"kind": SECRET}))
    replies.append(
        api.put(
            "/api/target-groups/g",
            {
                "members": [
                    {"target_type": "server", "server_name": "s", "refresh_credential_name": "pw"}
                ]
            },
        )
    )
    replies.append(api.put("/api/jobs/j", {"steps": [step(credential_name="pw")]}))
    replies.append(api.delete("/api/credentials/pw"))
    assert [r.status for r in replies] == [201, 200, 200, 200, 422, 422, 422, 422, 201, 201, 409]
    for reply in replies:
        assert SECRET not in reply.text
        assert SECRET not in str(reply.headers)
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"sqlfleet", "sqlalchemy"} <= loggers, "the scan needs log records to look at"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.args)
        assert SECRET not in (record.exc_text or "")
    values = all_values(store, backend, request)
    assert any(isinstance(v, str) and v.startswith("gAAAA") for v in values), "ciphertext stored"
    for value in values:
        assert SECRET not in str(value)
    if backend == "sqlite":
        database = Path(store._db.url.database or "")
        for path in database.parent.glob(database.name + "*"):
            assert SECRET.encode() not in path.read_bytes()
    record = store.get_credential_record("pw")
    assert SECRET not in repr(record)
    assert decrypt_password(record, settings) == SECRET


def test_password_credential_without_key_names_the_setting(
    store: SqlJobStore, api: Any, tmp_path: Path
) -> None:
    use_job_store(store, load_settings({"SQLFLEET_DATA_DIR": str(tmp_path)}))
    reply = api.put("/api/credentials/pw", PASSWORD)
    assert reply.status == 500
    assert reply.body["code"] == "SettingError"
    assert reply.body["setting"] == "SQLFLEET_CREDENTIAL_KEY"
    assert "SQLFLEET_CREDENTIAL_KEY" in reply.body["message"] and SECRET not in reply.text
    assert api.get("/api/credentials/pw").status == 404
    assert api.put("/api/credentials/mi", {"kind": "managedIdentity"}).status == 201


def test_invalid_key_names_the_setting(tmp_path: Path) -> None:
    settings = load_settings(
        {"SQLFLEET_CREDENTIAL_KEY": "not-a-key", "SQLFLEET_DATA_DIR": str(tmp_path)}
    )
    with pytest.raises(SettingError) as raised:
        check_credential_key(settings)
    assert raised.value.setting == "SQLFLEET_CREDENTIAL_KEY"
    assert "not-a-key" not in raised.value.message


def test_startup_refuses_stored_passwords_without_key(tmp_path: Path, credential_key: str) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with_key = load_settings(
        {"SQLFLEET_JOB_DATABASE_URL": url, "SQLFLEET_CREDENTIAL_KEY": credential_key}
    )
    store = open_job_store(with_key)
    store.put_credential(seal("pw", validate_document(CredentialIn, PASSWORD), with_key))
    store.close()
    with pytest.raises(SettingError) as raised:
        open_job_store(load_settings({"SQLFLEET_JOB_DATABASE_URL": url}))
    assert raised.value.setting == "SQLFLEET_CREDENTIAL_KEY" and "(pw)" in raised.value.message
    open_job_store(with_key).close()


def test_rotated_keys_decrypt_and_a_wrong_key_is_a_setting_error(credential_key: str) -> None:
    old = load_settings({"SQLFLEET_CREDENTIAL_KEY": credential_key})
    record = seal("pw", validate_document(CredentialIn, PASSWORD), old)
    assert record.secret_ciphertext and SECRET not in record.secret_ciphertext
    new_key = Fernet.generate_key().decode()
    rotated = load_settings({"SQLFLEET_CREDENTIAL_KEY": f"{new_key},{credential_key}"})
    assert decrypt_password(record, rotated) == SECRET
    with pytest.raises(SettingError) as raised:
        decrypt_password(record, load_settings({"SQLFLEET_CREDENTIAL_KEY": new_key}))
    assert "cannot decrypt credential 'pw'" in raised.value.message
    assert SECRET not in str(raised.value)
    identity = seal("mi", validate_document(CredentialIn, {"kind": "managedIdentity"}), old)
    assert identity.kind == CredentialKind.MANAGED_IDENTITY and identity.secret_ciphertext is None
    with pytest.raises(ValueError):
        decrypt_password(identity, old)


def test_validated_documents_hide_the_password() -> None:
    document = validate_document(CredentialIn, PASSWORD)
    assert SECRET not in repr(document) and SECRET not in str(document)
    assert SECRET not in document.model_dump_json()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Driver={x};Server=s;UID=u;PWD=abc;Encrypt=yes",
            "Driver={x};Server=s;UID=u;PWD=***;Encrypt=yes",
        ),
        ("password = {a;b}};c};Server=s", "password=***;Server=s"),
        ("postgresql://user:hunter2@host/db", "postgresql://user:***@host/db"),
        ("login failed for hunter2", "login failed for ***"),
        (
            {"password": "x", "nested": [{"token": "t", "name": "n"}]},
            {"password": "***", "nested": [{"token": "***", "name": "n"}]},
        ),
        (("a", 1), ("a", 1)),
    ],
)
def test_redaction(value: Any, expected: Any) -> None:
    assert redact(value, ["hunter2"]) == expected


@pytest.mark.parametrize(
    ("secret", "value", "expected"),
    [
        # A one-letter password never takes letters out of words...
        ("x", 'database "x_db" does not exist', 'database "x_db" does not exist'),
        ("x", "expected exactly one row", "expected exactly one row"),
        # ...nor a short one out of text at all, but a field that is the secret is masked.
        ("x", "x", "***"),
        ("abc", " abc ", "***"),
        ("abc", "abc is not abcd", "abc is not abcd"),
        # From MIN_SECRET_LENGTH_IN_TEXT on, whole tokens are masked wherever they stand.
        ("hunter2", "(using password: hunter2)", "(using password: ***)"),
        ("hunter2", "'hunter2','hunter2'", "'***','***'"),
        ("hunter2", "hunter2s or xhunter2 are words", "hunter2s or xhunter2 are words"),
        ("postgres", "postgresql on postgres", "postgresql on ***"),
        ("pa55", "user=u pa55", "user=u ***"),
        # A secret edged with punctuation is a token whatever letters touch it.
        ("!s3cret!", "a!s3cret!b", "a***b"),
        ("s3;cret", "PWD={s3;cret};x", "PWD=***;x"),
        # Structural shapes are masked whatever the length.
        ("x", "Server=s;PWD=x;Encrypt=yes", "Server=s;PWD=***;Encrypt=yes"),
        ("x", "postgresql://u:x@h/db", "postgresql://u:***@h/db"),
        ("x", {"name": "x", "note": "exit"}, {"name": "***", "note": "exit"}),
    ],
)
def test_redaction_masks_secrets_as_whole_values(secret: str, value: Any, expected: Any) -> None:
    assert redact(value, [secret]) == expected


def test_job_with_password_step_runs_seed(api: Any) -> None:
    seed(api)
    assert api.get("/api/jobs/j").body["steps"][0]["credential_name"] == "pw"
