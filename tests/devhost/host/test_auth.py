"""Key checks per auth level (the decision table of devhost.http.auth) and where keys come from
(devhost.hostkeys): settings, the key file made in the data folder, keyless mode."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from devhost.hostkeys import (
    KeySetupError,
    check_keyless_address,
    create_key_file,
    key_file,
    keyless_setting,
    read_key_file,
    set_up_keys,
)
from devhost.http.auth import AuthLevel, AuthResult, HostKeys, authorize, presented_key

KEYS = HostKeys(function_key="fk", master_key="mk", system_key="sk")
KEYLESS = HostKeys()


@pytest.mark.parametrize(
    ("level", "presented", "keys", "expected"),
    [
        (AuthLevel.ANONYMOUS, None, KEYS, AuthResult.ANONYMOUS),
        (AuthLevel.FUNCTION, "fk", KEYS, AuthResult.FUNCTION_KEY),
        (AuthLevel.FUNCTION, "mk", KEYS, AuthResult.MASTER_KEY),
        (AuthLevel.FUNCTION, "sk", KEYS, AuthResult.INVALID_KEY),
        (AuthLevel.FUNCTION, None, KEYS, AuthResult.MISSING_KEY),
        (AuthLevel.FUNCTION, "", KEYS, AuthResult.MISSING_KEY),
        (AuthLevel.FUNCTION, "fk ", KEYS, AuthResult.INVALID_KEY),
        (AuthLevel.FUNCTION, None, KEYLESS, AuthResult.KEYLESS),
        (AuthLevel.ADMIN, "fk", KEYS, AuthResult.INVALID_KEY),
        (AuthLevel.ADMIN, "sk", KEYS, AuthResult.INVALID_KEY),
        (AuthLevel.ADMIN, "mk", KEYS, AuthResult.MASTER_KEY),
        (AuthLevel.ADMIN, None, KEYS, AuthResult.MISSING_KEY),
        (AuthLevel.ADMIN, "anything", KEYLESS, AuthResult.KEYLESS),
        (AuthLevel.SYSTEM, "sk", KEYS, AuthResult.SYSTEM_KEY),
        (AuthLevel.SYSTEM, "mk", KEYS, AuthResult.MASTER_KEY),
        (AuthLevel.SYSTEM, "fk", KEYS, AuthResult.INVALID_KEY),
        (AuthLevel.SYSTEM, None, KEYS, AuthResult.MISSING_KEY),
        (AuthLevel.SYSTEM, None, KEYLESS, AuthResult.KEYLESS),
    ],
)
def test_decision_table(level, presented, keys, expected):
    result = authorize(level, presented, keys)
    assert result is expected
    assert result.granted is (expected not in (AuthResult.MISSING_KEY, AuthResult.INVALID_KEY))


def test_the_header_wins_over_the_code_query_as_on_azure():
    def headers(**values: str) -> CIMultiDictProxy[str]:
        return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))

    assert presented_key(headers(x_functions_key="h"), ["q"]) == "h"
    assert presented_key(headers(X_Functions_Key=""), ["q"]) == ""  # present, even empty
    assert presented_key(headers(), ["q", "r"]) == "q"
    assert presented_key(headers(), []) is None


def test_keys_never_show_in_repr():
    assert "mk" not in repr(KEYS) and "fk" not in repr(KEYS)
    assert repr(KEYLESS) == "HostKeys(keyless)"


def test_first_start_makes_private_url_safe_keys_and_later_starts_reuse_them(tmp_path: Path):
    data = tmp_path / "data"
    first = set_up_keys({}, data, keyless=False)
    path = key_file(data)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    values = [first.keys.function_key, first.keys.master_key, first.keys.system_key]
    assert len(set(values)) == 3
    for value in values:
        assert value is not None and len(value) >= 54  # 40 random bytes, as Azure's
        assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert value[0].isalnum()
    # Azure's HostSecrets shape: masterKey, functionKeys "default", systemKeys of the extension.
    document = json.loads(path.read_text())
    assert document["masterKey"]["value"] == first.keys.master_key
    assert document["functionKeys"][0] == {
        "name": "default",
        "value": first.keys.function_key,
        "encrypted": False,
    }
    assert document["systemKeys"][0]["name"] == "durabletask_extension"
    assert set_up_keys({}, data, keyless=False).keys == first.keys
    assert first.describe() == f"function, master and system keys from {path}"


def test_keys_in_settings_win_and_the_rest_come_from_the_file(tmp_path: Path):
    data = tmp_path / "data"
    setup = set_up_keys({"DEVHOST_FUNCTION_KEY": "operator-fk"}, data, keyless=False)
    stored = read_key_file(key_file(data))
    assert setup.keys == HostKeys("operator-fk", stored.master_key, stored.system_key)
    assert stored.function_key != "operator-fk"  # the operator's key is never written down
    assert setup.describe() == (
        f"function key from DEVHOST_FUNCTION_KEY; master and system keys from {key_file(data)}"
    )


def test_all_three_keys_in_settings_need_no_file(tmp_path: Path):
    settings = {"DEVHOST_FUNCTION_KEY": "f", "DEVHOST_MASTER_KEY": "m", "DEVHOST_SYSTEM_KEY": "s"}
    setup = set_up_keys(settings, tmp_path / "data", keyless=False)
    assert setup.keys == HostKeys("f", "m", "s")
    assert not (tmp_path / "data").exists()


def test_keyless_mode_has_no_keys_no_file_and_refuses_key_settings(tmp_path: Path):
    setup = set_up_keys({}, tmp_path / "data", keyless=True)
    assert setup.keys.keyless and not key_file(tmp_path / "data").exists()
    assert "keyless" in setup.describe()
    with pytest.raises(KeySetupError, match="DEVHOST_MASTER_KEY"):
        set_up_keys({"DEVHOST_MASTER_KEY": "m"}, tmp_path / "data", keyless=True)


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_keyless_setting_on(value):
    assert keyless_setting({"DEVHOST_KEYLESS": value}) is True


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_keyless_setting_off(value):
    assert keyless_setting({"DEVHOST_KEYLESS": value}) is False


def test_keyless_setting_refuses_other_values():
    with pytest.raises(KeySetupError, match="DEVHOST_KEYLESS is 'maybe'"):
        keyless_setting({"DEVHOST_KEYLESS": "maybe"})


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_keyless_mode_accepts_loopback_addresses(address):
    check_keyless_address(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_keyless_mode_refuses_every_other_address(address):
    with pytest.raises(KeySetupError, match="loopback only"):
        check_keyless_address(address)


def test_an_unreadable_key_file_names_the_file_and_the_fix(tmp_path: Path):
    path = key_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(KeySetupError, match="delete the file"):
        set_up_keys({}, tmp_path, keyless=False)


def test_two_hosts_starting_at_once_end_up_with_the_same_keys(tmp_path: Path):
    # The second writer finds the first one's file and uses it (os.link never replaces it).
    data = tmp_path / "data"
    first = set_up_keys({}, data, keyless=False).keys
    assert create_key_file(key_file(data)) == first


def test_named_function_keys_in_the_key_file_are_function_keys_as_on_azure(tmp_path: Path):
    path = key_file(tmp_path)
    stored = create_key_file(path)
    document = json.loads(path.read_text())
    document["functionKeys"].append({"name": "viewer", "value": "viewer-key", "encrypted": False})
    path.write_text(json.dumps(document))
    keys = set_up_keys({}, tmp_path, keyless=False).keys
    assert keys.function_key == stored.function_key
    assert keys.other_function_keys == ("viewer-key",)
    assert authorize(AuthLevel.FUNCTION, "viewer-key", keys) is AuthResult.FUNCTION_KEY
    assert authorize(AuthLevel.FUNCTION, stored.function_key or "", keys) is AuthResult.FUNCTION_KEY
    assert authorize(AuthLevel.ADMIN, "viewer-key", keys) is AuthResult.INVALID_KEY
    assert authorize(AuthLevel.SYSTEM, "viewer-key", keys) is AuthResult.INVALID_KEY
    assert "viewer-key" not in repr(keys)
