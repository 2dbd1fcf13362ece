"""The app settings each durable-backend profile needs, against what the code reads.

- Durable Task Scheduler: the Function App's settings in ``infra/resources.bicep``.
- MSSQL: the container's environment in ``deploy/kubernetes/``.
- Azure Storage (the default): ``local.settings.sample.json`` (``func start``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.dialects.mssql.pyodbc import MSDialect_pyodbc

from sqlfleet import settings as sqlfleet_settings
from sqlfleet.alerts import FAILED_TARGETS_PREFIX
from sqlfleet.settings import host_app_settings, load_settings
from tests.deployment.bicep import ROOT, app_settings, evaluate, text
from tests.deployment.hostjson import load_profile

CLIENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
SAMPLES = {
    "identity.properties.clientId": CLIENT_ID,
    "sqlServer.properties.fullyQualifiedDomainName": "sql-sqlfleet-abc.database.windows.net",
    "jobDatabase.name": "sqlfleet-jobs",
    "storage.name": "stsqlfleetabc",
    "insights.properties.ConnectionString": "InstrumentationKey=00000000-0000-0000-0000-0",
    "scheduler.properties.endpoint": "https://dts-sqlfleet-abc.westus2.durabletask.io",
    "scheduler::hub.name": "sqlfleet",
    "credentialKeySecret.properties.secretUri": (
        "https://kv-sqlf-abc.vault.azure.net/secrets/sqlfleet-credential-key"
    ),
}
# Settings the Functions host and platform read (not SQL Fleet's code).
PLATFORM = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",  # azure-identity: which user-assigned identity to use
    "PYTHON_THREADPOOL_THREAD_COUNT",  # the Python worker
}


def code_settings() -> set[str]:
    """Every ``SQLFLEET_*`` setting sqlfleet.settings reads."""
    names = {
        value
        for value in vars(sqlfleet_settings).values()
        if isinstance(value, str) and value.startswith("SQLFLEET_")
    }
    names |= set(sqlfleet_settings.ODBC_DRIVER_SETTINGS.values())
    return names


def durable_needs(profile: str) -> set[str]:
    """The settings a profile's host.json names: its connection and a %SETTING% hub name."""
    durable = load_profile(profile)["extensions"]["durableTask"]
    needed = set(re.findall(r"%(\w+)%", durable.get("hubName", "")))
    provider = durable.get("storageProvider")
    needed.add(provider["connectionStringName"] if provider else "AzureWebJobsStorage")
    return needed


@pytest.fixture(scope="module")
def azure() -> dict[str, str]:
    return {name: evaluate(expr, SAMPLES) for name, expr in app_settings().items()}


def test_azure_settings_are_those_the_code_and_the_dts_profile_read(azure: dict[str, str]) -> None:
    names = set(azure)
    sqlfleet = {name for name in names if name.startswith("SQLFLEET_")}
    assert sqlfleet <= code_settings(), sqlfleet - code_settings()
    assert {"SQLFLEET_JOB_DATABASE_URL", "SQLFLEET_CREDENTIAL_KEY"} <= sqlfleet
    assert durable_needs("durable-task-scheduler") <= names
    assert names - sqlfleet - durable_needs("durable-task-scheduler") == PLATFORM


def test_worker_settings_match_the_code(azure: dict[str, str]) -> None:
    for name, value in host_app_settings().items():
        assert azure[name] == value
    # Flex Consumption sets the worker runtime in functionAppConfig, and refuses the app setting.
    assert "FUNCTIONS_WORKER_RUNTIME" not in azure and "FUNCTIONS_EXTENSION_VERSION" not in azure
    assert re.search(r"runtime: \{\s*//[^\n]*\n\s*//[^\n]*\n\s*name: 'python'", text())


def test_settings_load_as_the_app_loads_them(azure: dict[str, str]) -> None:
    loaded = load_settings({**azure, "SQLFLEET_CREDENTIAL_KEY": ""})
    assert loaded.local_script_processes == 0
    url = sa.engine.make_url(loaded.job_database_url)
    (connection_string,), _ = MSDialect_pyodbc().create_connect_args(url)
    parts = dict(part.split("=", 1) for part in connection_string.split(";"))
    lowered = {key.lower(): value for key, value in parts.items()}
    assert lowered["driver"] == "{" + loaded.odbc_driver("sqlserver") + "}"
    assert lowered["uid"] == CLIENT_ID  # the user-assigned identity, by client id
    assert lowered["authentication"] == "ActiveDirectoryMsi"
    assert lowered["encrypt"] == "yes" and "pwd" not in lowered


def test_secrets_are_references_and_identities_never_keys(azure: dict[str, str]) -> None:
    assert azure["SQLFLEET_CREDENTIAL_KEY"] == (
        "@Microsoft.KeyVault(SecretUri=" + SAMPLES["credentialKeySecret.properties.secretUri"] + ")"
    )
    assert azure["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in azure  # no connection string with a key
    dts = dict(
        part.split("=", 1) for part in azure["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"].split(";")
    )
    assert dts == {
        "Endpoint": SAMPLES["scheduler.properties.endpoint"],
        "Authentication": "ManagedIdentity",
        "ClientID": CLIENT_ID,
    }
    assert azure["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        f"ClientId={CLIENT_ID};Authorization=AAD"
    )
    for value in azure.values():
        assert "AccountKey=" not in value and "SharedAccessSignature" not in value


def test_the_alert_counts_the_line_the_app_logs() -> None:
    resources = text()
    assert f"var failedTargetsPrefix = '{FAILED_TARGETS_PREFIX}'" in resources
    assert 'where message startswith "${failedTargetsPrefix}"' in resources


def kubernetes_environment() -> tuple[dict[str, Any], set[str], set[str]]:
    """(plain env values, names from secrets, secret key names) of the SQL Fleet container."""
    documents = list(
        yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "sqlfleet.yaml").read_text())
    )
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    plain = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    from_secrets = {e["name"] for e in container.get("env", []) if "valueFrom" in e}
    secret_names = {s["secretRef"]["name"] for s in container.get("envFrom", [])}
    example = list(
        yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "secrets.example.yaml").read_text())
    )
    for secret in example:
        if secret["metadata"]["name"] in secret_names:
            from_secrets |= set(secret["stringData"])
    return plain, from_secrets, secret_names


def test_kubernetes_settings_are_those_the_code_and_the_mssql_profile_read() -> None:
    plain, from_secrets, _ = kubernetes_environment()
    names = set(plain) | from_secrets
    assert durable_needs("mssql") <= from_secrets  # the SQL connection string is a secret
    assert {"SQLFLEET_JOB_DATABASE_URL", "SQLFLEET_CREDENTIAL_KEY"} <= from_secrets
    assert {n for n in names if n.startswith("SQLFLEET_")} <= code_settings()
    assert plain["FUNCTIONS_WORKER_RUNTIME"] == "python"
    for name, value in host_app_settings().items():
        assert plain[name] == value
    assert "AzureWebJobsStorage" in from_secrets  # timer trigger locks and host diagnostics
    assert plain["AzureWebJobsSecretStorageType"] == "kubernetes"


def test_local_sample_settings_cover_the_azure_storage_profile() -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert durable_needs("azure-storage") <= set(values)
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert {n for n in values if n.startswith("SQLFLEET_")} <= code_settings()
    for name, value in host_app_settings().items():
        assert values[name] == value
