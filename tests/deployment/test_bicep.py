"""``infra/`` and ``azure.yaml``: checkov over the Bicep (0 failed checks, every skip with its
reason) and the wiring azd relies on. Nothing is deployed from here."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from deploy.credential_key import SETTING as CREDENTIAL_KEY_SETTING
from deploy.stage_app import PROFILES
from tests.deployment.bicep import INFRA, ROOT, parameter, text

CHECKOV_CONFIG = INFRA / ".checkov.yaml"
MIN_REASON = 40  # characters: a reason, not a placeholder


def checkov() -> str:
    """checkov's executable: $SQLFLEET_CHECKOV, .venv-checkov (scripts/bootstrap.sh), PATH."""
    candidates = [
        os.environ.get("SQLFLEET_CHECKOV", ""),
        str(ROOT / ".venv-checkov" / "bin" / "checkov"),
        shutil.which("checkov") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip(
        "checkov is not installed: run scripts/bootstrap.sh (it builds .venv-checkov) or set "
        "SQLFLEET_CHECKOV to a checkov executable"
    )


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    result = subprocess.run(
        [checkov(), "--config-file", str(CHECKOV_CONFIG), "-d", str(INFRA), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    document = json.loads(result.stdout)
    reports = document if isinstance(document, list) else [document]
    (bicep,) = [r for r in reports if r.get("check_type") == "bicep"]
    return dict(bicep)


def test_checkov_finds_no_failed_check(report: dict[str, Any]) -> None:
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]})"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == [] and summary["failed"] == 0
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 30 and summary["resource_count"] >= 30  # the files were read


def test_every_inline_skip_says_why(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    assert skipped, "expected the justified skips of infra/resources.bicep"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) >= MIN_REASON, f"{check['check_id']} {check['resource']}: {reason!r}"
    in_files = sum(len(re.findall(r"checkov:skip=", text(p))) for p in INFRA.glob("*.bicep"))
    assert in_files == len(skipped)


def test_every_configured_skip_is_explained_by_a_comment() -> None:
    lines = CHECKOV_CONFIG.read_text(encoding="utf-8").splitlines()
    config = yaml.safe_load("\n".join(lines))
    assert config["framework"] == ["bicep"] and config["skip-download"] is True
    for check in config["skip-check"]:
        index = lines.index(f"  - {check}")
        assert lines[index - 1].strip().startswith("#"), f"{check} has no comment above it"


def test_azure_yaml_deploys_the_staged_dts_app() -> None:
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    (service,) = azure["services"].values()
    assert service["host"] == "function" and service["language"] == "python"
    assert service["project"] == "."
    for shell in ("posix", "windows"):
        command = service["hooks"]["prepackage"][shell]["run"].split()
        assert command[1] == "deploy/stage_app.py"
        profile = command[command.index("--profile") + 1]
        assert profile == "durable-task-scheduler" and profile in PROFILES
        assert command[command.index("--output") + 1] == service["dist"]
        hook = azure["hooks"]["preprovision"][shell]["run"].split()
        assert hook[1] == "deploy/credential_key.py" and (ROOT / hook[1]).is_file()
    assert ".deploy/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_parameters_file_feeds_every_required_parameter() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    values = {name: entry["value"] for name, entry in parameters["parameters"].items()}
    assert values["credentialKey"] == "${" + CREDENTIAL_KEY_SETTING + "}"
    main = text(INFRA / "main.bicep")
    required = re.findall(r"^param (\w+) \w+$", main, re.MULTILINE)  # no default: must be given
    assert set(required) <= set(values), set(required) - set(values)
    declared = set(re.findall(r"^param (\w+) ", main, re.MULTILINE))
    assert set(values) <= declared
    assert "@secure()\n@description" in main.split("param credentialKey")[0][-200:]


def test_python_versions_match_the_supported_ones() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    supported = re.search(r"^SUPPORTED=\(([^)]*)\)", bootstrap, re.MULTILINE)
    assert supported
    expected = sorted(supported.group(1).split())
    for path in (INFRA / "main.bicep", INFRA / "resources.bicep"):
        allowed, default = parameter("pythonVersion", text(path))
        assert sorted(allowed or []) == expected
        assert default == "'3.13'"


def test_job_database_is_never_serverless() -> None:
    for path in (INFRA / "main.bicep", INFRA / "resources.bicep"):
        allowed, default = parameter("jobDatabaseSku", text(path))
        assert allowed and default == "'S1'"
        assert not [sku for sku in allowed if "_S_" in sku or sku.startswith("GP_S")]
    assert "autoPause" not in text()


def test_outputs_give_the_app_and_monitoring_urls() -> None:
    main = text(INFRA / "main.bicep")
    assert "output SQLFLEET_URL string = resources.outputs.appUrl" in main
    assert "output SQLFLEET_MONITORING_URL string = resources.outputs.monitoringUrl" in main
    resources = text()
    assert "output appUrl string = 'https://${app.properties.defaultHostName}'" in resources
    assert "output monitoringUrl string = 'https://${app.properties.defaultHostName}/api/ui/'" in (
        resources
    )


def test_the_identity_gets_exactly_the_roles_it_uses() -> None:
    resources = text()
    for role in (
        "storageBlobDataOwner",
        "storageQueueDataContributor",
        "storageTableDataContributor",
        "keyVaultSecretsUser",
        "monitoringMetricsPublisher",
        "durableTaskDataContributor",
    ):
        assert re.search(rf"roles\.{role}\b", resources.split("var roles")[1]), role
    assert "azureADOnlyAuthentication: true" in resources
    assert "allowSharedKeyAccess: false" in resources
    assert "DisableLocalAuth: true" in resources
    assert "keyVaultReferenceIdentity: identity.id" in resources
    assert "administratorLoginPassword" not in resources
