"""The MSSQL profile's container and Kubernetes manifests: the KEDA scaler asks the provider's
scale recommendation with host.json's own concurrency, and every name lines up. (No image is
built here: there is no Docker engine.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deployment.hostjson import load_profile

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
HOST_KEYS = {"host.master", "host.function.default", "host.systemKey.durabletask_extension"}


def manifests() -> dict[str, dict[str, Any]]:
    documents = yaml.safe_load_all((KUBERNETES / "sqlfleet.yaml").read_text(encoding="utf-8"))
    return {document["kind"]: document for document in documents}


def secrets() -> dict[str, dict[str, str]]:
    documents = yaml.safe_load_all(
        (KUBERNETES / "secrets.example.yaml").read_text(encoding="utf-8")
    )
    return {d["metadata"]["name"]: d["stringData"] for d in documents}


def test_scaler_asks_the_scale_recommendation_with_host_json_concurrency() -> None:
    durable = load_profile("mssql")["extensions"]["durableTask"]
    (trigger,) = manifests()["ScaledObject"]["spec"]["triggers"]
    assert trigger["type"] == "mssql"
    match = re.fullmatch(
        r"SELECT dt\.GetScaleRecommendation\((\d+), (\d+)\)", trigger["metadata"]["query"]
    )
    assert match, trigger["metadata"]["query"]
    assert (int(match.group(1)), int(match.group(2))) == (
        durable["maxConcurrentOrchestratorFunctions"],
        durable["maxConcurrentActivityFunctions"],
    )
    assert trigger["metadata"]["targetValue"] == "1"


def test_scaler_signs_in_with_the_app_s_connection_string() -> None:
    found = manifests()
    connection = load_profile("mssql")["extensions"]["durableTask"]["storageProvider"]
    (trigger,) = found["ScaledObject"]["spec"]["triggers"]
    authentication = found["TriggerAuthentication"]
    assert trigger["authenticationRef"]["name"] == authentication["metadata"]["name"]
    (reference,) = authentication["spec"]["secretTargetRef"]
    assert reference["parameter"] == "connectionString"
    assert reference["key"] == connection["connectionStringName"]
    assert reference["key"] in secrets()[reference["name"]]


def test_scaled_object_targets_the_deployment_and_keeps_one_replica() -> None:
    found = manifests()
    spec = found["ScaledObject"]["spec"]
    assert spec["scaleTargetRef"]["name"] == found["Deployment"]["metadata"]["name"]
    assert spec["minReplicaCount"] >= 1 <= spec["maxReplicaCount"]
    assert (
        found["Service"]["spec"]["selector"]
        == found["Deployment"]["spec"]["selector"]["matchLabels"]
    )


def test_host_keys_are_mounted_read_only_for_every_replica() -> None:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AzureWebJobsSecretStorageType"] == "kubernetes"
    assert "AzureWebJobsKubernetesSecretName" not in env  # read-only: keys come from files
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/run/secrets/functions-keys" and mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert set(secrets()[volume["secret"]["secretName"]]) == HOST_KEYS
    assert env["AzureFunctionsWebHost__hostid"]  # one timer lock for all replicas


def test_secret_example_holds_placeholders_only() -> None:
    for values in secrets().values():
        for name, value in values.items():
            assert "<" in value and ">" in value, f"{name} looks like a real value"


def test_dockerfile_builds_the_mssql_profile_on_the_functions_python_image() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG PYTHON_VERSION=3.13" in dockerfile
    images = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert images and all(
        image == "mcr.microsoft.com/azure-functions/python:4-python${PYTHON_VERSION}"
        for image in images
    )
    assert "deploy/stage_app.py --profile mssql" in dockerfile
    assert "FUNCTIONS_WORKER_RUNTIME=python" in dockerfile
    assert "PYTHON_THREADPOOL_THREAD_COUNT=48" in dockerfile
    assert 'odbcinst -q -d -n "ODBC Driver 18 for SQL Server"' in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".venv-checkov", ".git", "local.settings.json"} <= set(ignored)
