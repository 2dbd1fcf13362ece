"""Fleet files written from what a host holds: the inverse of ``sqlfleet.fleetfile``.

``export_fleet`` turns the API's documents (credentials, target groups, jobs) into fleet file
text that ``apply`` takes back unchanged: applying it to the host it came from changes nothing,
and exporting again from a host it was applied to gives the same text (a fixed point).

Secrets are never written. A ``password`` credential becomes ``password: ${ENV_VAR}`` (the
variable is named after the credential; ``apply`` then reads the password from there), or, with
``key_vault``, a ``keyVault`` credential naming a secret in that vault. ``keyVault`` credentials
keep their secret URI and ``managedIdentity`` ones their client id; neither holds a secret.

Raises ``ExportError`` for a host document the fleet file format cannot carry as it is (a value
that ``apply`` would read as an environment reference).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from sqlfleet.errors import SqlFleetError
from sqlfleet.models import Credential, CredentialKind, Job, MemberIn, TargetGroup
from sqlfleet.models.jobs import StepIn

# What ``sqlfleet.fleetfile`` reads as an environment reference; values holding one cannot be
# written, since the file format has no escape for it.
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}")
_NOT_ENV = re.compile(r"[^A-Z0-9]+")
_NOT_SECRET_NAME = re.compile(r"[^A-Za-z0-9]+")
# Key Vault secret names: 1-127 letters, digits and dashes.
MAX_SECRET_NAME_LENGTH = 127
PASSWORD_SUFFIX = "_PASSWORD"
# Fields never written: ids and times the host assigns, and the step's place (its list order).
_STEP_FIELDS = tuple(name for name in StepIn.model_fields if name not in ("step_id", "new_id"))


class ExportError(SqlFleetError):
    """The host holds something a fleet file cannot carry; ``field`` names it."""

    code = "ExportError"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class ExportedFleet:
    """Fleet file ``text`` and the environment variables it reads passwords from."""

    text: str
    password_variables: dict[str, str]  # credential name -> variable
    counts: dict[str, int]


def export_fleet(
    credentials: Sequence[Mapping[str, Any]],
    target_groups: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]],
    *,
    key_vault: str | None = None,
) -> ExportedFleet:
    """The fleet file of the given API documents (as ``GET /api/...`` answers them), objects in
    name order. ``key_vault`` (``https://<vault>.vault.azure.net``) turns password credentials
    into Key Vault references. Raises ``ExportError``."""
    vault = _vault_url(key_vault) if key_vault else None
    creds = sorted((Credential.model_validate(c) for c in credentials), key=lambda c: c.name)
    groups = sorted((TargetGroup.model_validate(g) for g in target_groups), key=lambda g: g.name)
    job_list = sorted((Job.model_validate(j) for j in jobs), key=lambda j: j.name)
    variables = password_variables(
        [c.name for c in creds if c.kind == CredentialKind.PASSWORD and vault is None]
    )
    document: dict[str, Any] = {
        "credentials": [_credential(index, c, variables, vault) for index, c in enumerate(creds)],
        "target_groups": [_group(index, g) for index, g in enumerate(groups)],
        "jobs": [_job(index, j) for index, j in enumerate(job_list)],
    }
    header = _header(variables, vault)
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return ExportedFleet(
        header + body,
        variables,
        {"credentials": len(creds), "target_groups": len(groups), "jobs": len(job_list)},
    )


def password_variables(names: Sequence[str]) -> dict[str, str]:
    """An environment variable per credential name: ``jobuser`` -> ``JOBUSER_PASSWORD``; names
    that would clash get ``_2``, ``_3``... in name order."""
    chosen: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names):
        stem = _NOT_ENV.sub("_", name.upper()).strip("_") or "CREDENTIAL"
        if stem[0].isdigit():
            stem = "CREDENTIAL_" + stem
        candidate, number = stem + PASSWORD_SUFFIX, 1
        while candidate in taken:
            number += 1
            candidate = f"{stem}{PASSWORD_SUFFIX}_{number}"
        taken.add(candidate)
        chosen[name] = candidate
    return chosen


def key_vault_secret_name(credential_name: str) -> str:
    """The Key Vault secret a password credential becomes with ``--key-vault``:
    ``jobuser`` -> ``jobuser-password``."""
    stem = _NOT_SECRET_NAME.sub("-", credential_name).strip("-") or "credential"
    return (stem[: MAX_SECRET_NAME_LENGTH - len("-password")] + "-password").lower()


def _vault_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ExportError(
            "--key-vault",
            f"expected a Key Vault URL such as https://myvault.vault.azure.net, got {url!r}",
        )
    return f"https://{parts.netloc}"


def _header(variables: Mapping[str, str], vault: str | None) -> str:
    lines = ["# A SQL Fleet fleet file written by `sqlfleet export`; apply it with"]
    lines.append("# `sqlfleet apply -f <this file>`. It holds no secret.")
    if variables:
        lines.append("# Set these environment variables to the passwords before applying:")
        lines += [f"#   {variable}  (credential {name})" for name, variable in variables.items()]
    if vault:
        lines.append(f"# Password credentials read their secret from {vault}: store each")
        lines.append("# password there under the secret name its secret_uri gives.")
    return "\n".join(lines) + "\n"


def _credential(
    index: int, credential: Credential, variables: Mapping[str, str], vault: str | None
) -> dict[str, Any]:
    path = f"credentials[{index}]"
    entry: dict[str, Any] = {"name": credential.name}
    kind, secret_uri = credential.kind, credential.secret_uri
    if kind == CredentialKind.PASSWORD and vault is not None:
        kind = CredentialKind.KEY_VAULT
        secret_uri = f"{vault}/secrets/{key_vault_secret_name(credential.name)}"
    entry["kind"] = kind.value
    if credential.username is not None:
        entry["username"] = credential.username
    if kind == CredentialKind.PASSWORD:
        entry["password"] = "${" + variables[credential.name] + "}"
    if secret_uri is not None:
        entry["secret_uri"] = secret_uri
    if credential.client_id is not None:
        entry["client_id"] = credential.client_id
    if credential.description:
        entry["description"] = credential.description
    return _checked(entry, path)


def _group(index: int, group: TargetGroup) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": group.name}
    if group.description:
        entry["description"] = group.description
    members = []
    for member in group.members:
        fields = {name: getattr(member, name) for name in MemberIn.model_fields}
        fields["target_id"] = None  # the host assigns ids; a file applied elsewhere gets new ones
        document = MemberIn.model_validate(fields).model_dump(mode="json", exclude_none=True)
        members.append(document)
    entry["members"] = members
    return _checked(entry, f"target_groups[{index}]")


def _job(index: int, job: Job) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": job.name}
    if job.description:
        entry["description"] = job.description
    entry["enabled"] = job.enabled
    entry["schedule"] = job.schedule.model_dump(mode="json", exclude_none=True)
    if job.parameters:
        entry["parameters"] = [p.model_dump(mode="json", exclude_none=True) for p in job.parameters]
    steps = []
    for step in job.steps:
        fields = {name: getattr(step, name) for name in _STEP_FIELDS}
        document = StepIn.model_validate(fields).model_dump(
            mode="json", include=set(_STEP_FIELDS), exclude_none=True
        )
        steps.append(document)
    entry["steps"] = steps
    if job.notifications:
        entry["notifications"] = [
            rule.model_dump(mode="json", exclude_none=True) for rule in job.notifications
        ]
    return _checked(entry, f"jobs[{index}]")


def _checked(entry: dict[str, Any], path: str) -> dict[str, Any]:
    """Refuse values that ``apply`` would expand (every value but step ``command`` text)."""

    def walk(value: Any, where: str, key: str) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, f"{where}.{name}", name)
        elif isinstance(value, list):
            for position, item in enumerate(value):
                walk(item, f"{where}[{position}]", key)
        elif (
            isinstance(value, str)
            and key not in ("command", "password")
            and _REFERENCE.search(value)
        ):
            raise ExportError(
                where,
                f"{value!r} holds '${{...}}', which apply would read as an environment "
                "variable; change it on the host (the fleet file format has no escape for it) "
                "and export again",
            )

    walk(entry, path, "")
    return entry


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML has no type information
    """Block style throughout, lists indented under their key (as the README's examples are),
    multi-line text (step commands) as literal ``|`` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted scalar when a literal block cannot hold the text exactly.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_text)
