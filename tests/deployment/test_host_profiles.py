"""The host.json profiles (one per durable backend) against the Functions host.json schema, the
worker's thread pool and each other."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from deploy.stage_app import PROFILES
from devhost.app import read_host_json
from sqlfleet.settings import DEFAULT_WORKER_THREADS, host_app_settings
from tests.deployment.hostjson import (
    DURABLE_ALLOWANCES,
    STORAGE_PROVIDER_ALLOWANCES,
    load_profile,
    problems,
    raw_schema,
)

# What may differ between profiles: the backend itself, the task hub and the bundle range.
BACKEND_KEYS = ("storageProvider", "hubName")
BUNDLE_ID = "Microsoft.Azure.Functions.ExtensionBundle"
# The first extension bundle with the Durable Task Scheduler provider (azureManaged).
DTS_MINIMUM_BUNDLE = (4, 32, 0)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profile_is_valid_against_the_host_json_schema(profile: str) -> None:
    assert problems(load_profile(profile)) == []


def test_the_root_host_json_is_the_azure_storage_profile() -> None:
    root = json.loads((PROFILES["azure-storage"]).read_text(encoding="utf-8"))
    assert (
        "storageProvider" not in root["extensions"]["durableTask"]
    )  # Azure Storage is the default
    assert PROFILES["azure-storage"] == Path(__file__).resolve().parents[2] / "host.json"


@pytest.mark.parametrize("profile", ["durable-task-scheduler", "mssql"])
def test_profiles_differ_from_the_default_only_in_the_backend(profile: str) -> None:
    default, other = load_profile("azure-storage"), load_profile(profile)
    for document in (default, other):
        durable = document["extensions"]["durableTask"]
        for key in BACKEND_KEYS:
            durable.pop(key, None)
        document["extensionBundle"].pop("version")
    assert other == default


def test_storage_providers_name_their_backend_and_connection() -> None:
    dts = load_profile("durable-task-scheduler")["extensions"]["durableTask"]
    assert dts["storageProvider"] == {
        "type": "azureManaged",
        "connectionStringName": "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
    }
    assert dts["hubName"] == "%TASKHUB_NAME%"
    mssql = load_profile("mssql")["extensions"]["durableTask"]["storageProvider"]
    assert mssql["type"] == "mssql" and mssql["connectionStringName"] == "SQLDB_Connection"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_bundles_are_the_ga_v4_bundle(profile: str) -> None:
    bundle = load_profile(profile)["extensionBundle"]
    assert bundle["id"] == BUNDLE_ID
    assert bundle["version"].endswith(", 5.0.0)")


def test_dts_profile_asks_for_a_bundle_with_the_azure_managed_provider() -> None:
    version = load_profile("durable-task-scheduler")["extensionBundle"]["version"]
    match = re.fullmatch(r"\[(\d+)\.(\d+)\.(\d+), 5\.0\.0\)", version)
    assert match, version
    assert tuple(int(part) for part in match.groups()) >= DTS_MINIMUM_BUNDLE


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_worker_threads_cover_every_function_the_host_runs_at_once(profile: str) -> None:
    durable = load_profile(profile)["extensions"]["durableTask"]
    at_once = (
        durable["maxConcurrentActivityFunctions"] + durable["maxConcurrentOrchestratorFunctions"]
    )
    assert at_once == DEFAULT_WORKER_THREADS
    assert host_app_settings()["PYTHON_THREADPOOL_THREAD_COUNT"] == str(at_once)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_local_host_accepts_every_profile(profile: str, tmp_path: Path) -> None:
    (tmp_path / "host.json").write_bytes(PROFILES[profile].read_bytes())
    settings = read_host_json(tmp_path, {"TASKHUB_NAME": "SqlFleetHub"})
    assert settings.route_prefix == "api"
    assert settings.max_concurrent_activities == 32
    assert settings.hub_name in ("SqlFleet", "SqlFleetHub")


# The validation is live: it rejects what the host would misread, and the allowances are needed.


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        (("extensions", "durableTask", "storageProvider"), "connectionStringNam", "X"),
        (("extensions", "durableTask", "storageProvider"), "type", "azuremanaged"),
        (("extensions", "durableTask"), "maxConcurrentActivityFunction", 32),
        (("extensions", "durableTask"), "overridableExistingInstanceStates", "Running"),
        (("extensionBundle",), "versions", "[4.*, 5.0.0)"),
        ((), "functionTimeout", "24:00:00"),
    ],
)
def test_schema_catches_a_misspelt_or_wrong_setting(
    where: tuple[str, ...], key: str, value: object
) -> None:
    document = copy.deepcopy(load_profile("durable-task-scheduler"))
    node = document
    for part in where:
        node = node[part]
    node[key] = value
    found = problems(document)
    assert found, f"{'.'.join((*where, key))} = {value!r} passed"


def test_each_allowance_is_missing_from_the_schema_itself() -> None:
    durable = raw_schema()["definitions"]["durableTask-extension"]["properties"]
    assert not set(DURABLE_ALLOWANCES) & set(durable)
    assert not set(STORAGE_PROVIDER_ALLOWANCES) & set(durable["storageProvider"]["properties"])
    assert problems(load_profile("durable-task-scheduler"), allow_durable_keys=False)
    assert problems(load_profile("mssql"), allow_durable_keys=False)


def test_durable_keys_the_devhost_reads_are_allowed() -> None:
    document = load_profile("azure-storage")
    document["extensions"]["durableTask"].update(
        {"defaultVersion": "1.0", "overridableExistingInstanceStates": "AnyState"}
    )
    assert problems(document) == []
    assert problems(document, allow_durable_keys=False)
