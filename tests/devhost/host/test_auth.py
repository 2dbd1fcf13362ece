"""Key checks per auth level (the decision table of devhost.http.auth)."""

from __future__ import annotations

import pytest

from devhost.http.auth import AuthLevel, AuthResult, HostKeys, authorize

KEYS = HostKeys(function_key="fk", master_key="mk", system_key="sk")


@pytest.mark.parametrize(
    ("level", "presented", "keys", "loopback", "expected"),
    [
        (AuthLevel.ANONYMOUS, None, KEYS, False, AuthResult.ANONYMOUS),
        (AuthLevel.FUNCTION, "fk", KEYS, False, AuthResult.FUNCTION_KEY),
        (AuthLevel.FUNCTION, "mk", KEYS, False, AuthResult.MASTER_KEY),
        (AuthLevel.FUNCTION, "sk", KEYS, False, AuthResult.INVALID_KEY),
        (AuthLevel.FUNCTION, None, KEYS, True, AuthResult.MISSING_KEY),
        (AuthLevel.FUNCTION, None, HostKeys(), False, AuthResult.NOT_ENFORCED),
        (AuthLevel.ADMIN, "fk", KEYS, False, AuthResult.INVALID_KEY),
        (AuthLevel.ADMIN, "mk", KEYS, False, AuthResult.MASTER_KEY),
        (AuthLevel.ADMIN, None, HostKeys(function_key="fk"), False, AuthResult.NOT_ENFORCED),
        (AuthLevel.SYSTEM, "sk", KEYS, False, AuthResult.SYSTEM_KEY),
        (AuthLevel.SYSTEM, "mk", KEYS, False, AuthResult.MASTER_KEY),
        (AuthLevel.SYSTEM, "fk", KEYS, False, AuthResult.INVALID_KEY),
        (AuthLevel.SYSTEM, None, KEYS, False, AuthResult.MISSING_KEY),
        (AuthLevel.SYSTEM, None, KEYS, True, AuthResult.LOOPBACK),
        (AuthLevel.SYSTEM, "wrong", KEYS, True, AuthResult.INVALID_KEY),
        (AuthLevel.SYSTEM, None, HostKeys(function_key="fk"), False, AuthResult.NOT_ENFORCED),
    ],
)
def test_decision_table(level, presented, keys, loopback, expected):
    result = authorize(level, presented, keys, from_loopback=loopback)
    assert result is expected
    assert result.granted is (expected not in (AuthResult.MISSING_KEY, AuthResult.INVALID_KEY))


def test_keys_come_from_settings_and_never_show_in_repr():
    keys = HostKeys.from_settings({"DEVHOST_FUNCTION_KEY": "f-secret", "DEVHOST_MASTER_KEY": ""})
    assert keys == HostKeys(function_key="f-secret")
    assert "f-secret" not in repr(keys)
