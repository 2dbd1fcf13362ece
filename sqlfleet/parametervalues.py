"""The parameter values an execution runs with, as the job database keeps them.

``job_executions.parameters_json`` (on the job row) holds one entry per value: its name, type,
and ``text``, or, for a secret one, ``ciphertext`` (encrypted with ``SQLFLEET_CREDENTIAL_KEY``
as passwords are), so that no read of the job database, no API answer and no log shows a secret.
Activities decrypt them when a script runs (``execution_parameters``); everything shown to
people goes through ``shown_parameters`` (``***`` for secrets).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.fernet import InvalidToken

from sqlfleet.credentials import cipher
from sqlfleet.errors import SettingError
from sqlfleet.outcomes import ScriptOutcome
from sqlfleet.parameterkinds import REDACTED, ParameterType, ParameterValueOf
from sqlfleet.redaction import redact
from sqlfleet.settings import CREDENTIAL_KEY, get_settings

# Executions whose values activities hold decrypted (values never change once recorded).
_CACHE_SIZE = 256
_cache: OrderedDict[str, list[ParameterValueOf]] = OrderedDict()
_cache_lock = threading.Lock()


def seal_parameters(values: Sequence[ParameterValueOf], settings: Any = None) -> str | None:
    """What ``parameters_json`` holds for ``values`` (None for none); secret values encrypted.
    Raises ``SettingError`` when a secret must be encrypted and no key is set."""
    if not values:
        return None
    entries: list[dict[str, Any]] = []
    for value in values:
        entry: dict[str, Any] = {"name": value.name, "type": value.type.value}
        if value.secret:
            token = cipher(settings or get_settings()).encrypt(value.text.encode("utf-8"))
            entry |= {"secret": True, "ciphertext": token.decode("ascii")}
        else:
            entry["text"] = value.text
        entries.append(entry)
    return json.dumps(entries)


def shown_parameters(text: str | None) -> dict[str, str] | None:
    """The values of ``parameters_json`` as people see them: secret ones as ``***``."""
    if not text:
        return None
    return {
        entry["name"]: REDACTED if entry.get("secret") else entry["text"]
        for entry in json.loads(text)
    }


def unseal_parameters(text: str | None, settings: Any = None) -> list[ParameterValueOf]:
    """The values of ``parameters_json``, secret ones decrypted. Raises ``SettingError``."""
    if not text:
        return []
    values = []
    for entry in json.loads(text):
        if entry.get("secret"):
            try:
                plain = (
                    cipher(settings or get_settings())
                    .decrypt(entry["ciphertext"].encode("ascii"))
                    .decode("utf-8")
                )
            except InvalidToken:
                raise SettingError(
                    CREDENTIAL_KEY,
                    f"cannot decrypt the value of secret parameter '{entry['name']}': it was "
                    "encrypted with another key",
                ) from None
            values.append(
                ParameterValueOf(entry["name"], ParameterType(entry["type"]), plain, True)
            )
        else:
            values.append(
                ParameterValueOf(entry["name"], ParameterType(entry["type"]), entry["text"], False)
            )
    return values


def redacted_parameters(text: str | None) -> list[ParameterValueOf]:
    """The values of ``parameters_json`` with secret ones as ``***`` (nothing decrypted)."""
    if not text:
        return []
    return [
        ParameterValueOf(
            entry["name"],
            ParameterType(entry["type"]),
            REDACTED if entry.get("secret") else entry["text"],
            bool(entry.get("secret")),
        )
        for entry in json.loads(text)
    ]


def hide_secret_values(
    outcome: ScriptOutcome | None, execution_id: str, read: Callable[[str], str | None]
) -> None:
    """Mask the execution's secret parameter values in what a script left (its error, messages
    and result rows) before any of it is stored: engines echo statement text in errors."""
    if outcome is None:
        return
    secrets = [value.text for value in execution_parameters(execution_id, read) if value.secret]
    if not secrets:
        return
    if outcome.error:
        outcome.error = str(redact(outcome.error, secrets))
    outcome.messages = [str(redact(message, secrets)) for message in outcome.messages]
    for kept in outcome.result_sets:  # every result set, the first (``rows``) among them
        kept.rows = redact(kept.rows, secrets)
    outcome.rows = (
        outcome.result_sets[0].rows if outcome.result_sets else redact(outcome.rows, secrets)
    )


def execution_parameters(
    execution_id: str, read: Callable[[str], str | None]
) -> list[ParameterValueOf]:
    """The values execution ``execution_id`` runs with, decrypted; ``read`` gives its
    ``parameters_json``. Kept for the next target of the same execution."""
    with _cache_lock:
        if execution_id in _cache:
            _cache.move_to_end(execution_id)
            return _cache[execution_id]
    values = unseal_parameters(read(execution_id))
    with _cache_lock:
        _cache[execution_id] = values
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return values
