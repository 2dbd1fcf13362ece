"""The Functions host.json schema (``tests/schemas``), with the Durable keys it lacks allowed by
name, and the host.json profiles of SQL Fleet's durable backends."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs

from deploy.stage_app import PROFILES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "tests" / "schemas" / "host.json.schema.json"

# Durable Functions settings the SchemaStore schema does not list, each as the Durable Functions
# documentation describes it (durable-functions-bindings#host-json, the Durable Task Scheduler
# and MSSQL provider docs). Nothing else is added.
DURABLE_ALLOWANCES: dict[str, dict[str, Any]] = {
    "defaultVersion": {"type": "string"},
    "overridableExistingInstanceStates": {"enum": ["NonRunningStates", "AnyState"]},
}
STORAGE_PROVIDER_ALLOWANCES: dict[str, dict[str, Any]] = {
    # Which backend: Azure Storage when left out.
    "type": {"enum": ["AzureStorage", "azure_storage", "azureManaged", "mssql", "netherite"]},
    # Durable Task Scheduler (azureManaged).
    "largePayloadStorageEnabled": {"type": "boolean"},
    "largePayloadStorageThresholdBytes": {"type": "integer", "minimum": 0},
    # MSSQL.
    "taskEventLockTimeout": {"type": "string", "pattern": r"^\d{2}:[0-5]\d:[0-5]\d$"},
    "createDatabaseIfNotExists": {"type": "boolean"},
    "schemaName": {"type": "string", "minLength": 1},
}


def raw_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def version2_schema(allow_durable_keys: bool = True) -> dict[str, Any]:
    """The schema's ``version-2`` branch as the root (so errors name the field, not the
    version ``oneOf``), with the allowances above unless ``allow_durable_keys`` is false."""
    schema = copy.deepcopy(raw_schema())
    if allow_durable_keys:
        durable = schema["definitions"]["durableTask-extension"]["properties"]
        durable.update(copy.deepcopy(DURABLE_ALLOWANCES))
        durable["storageProvider"]["properties"].update(copy.deepcopy(STORAGE_PROVIDER_ALLOWANCES))
    return {
        "$schema": schema["$schema"],
        "definitions": schema["definitions"],
        "$ref": "#/definitions/version-2",
    }


def problems(document: Any, allow_durable_keys: bool = True) -> list[str]:
    """Every schema violation of ``document``: ``path: message``."""
    validator = jsonschema_rs.Draft7Validator(version2_schema(allow_durable_keys))
    return [
        "/".join(str(part) for part in error.instance_path) + ": " + error.message
        for error in validator.iter_errors(document)
    ]


def load_profile(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PROFILES[name].read_text(encoding="utf-8"))
    return document
