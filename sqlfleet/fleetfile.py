"""Fleet files: credentials, target groups and jobs declared in YAML, applied idempotently.

```yaml
credentials:
  - name: JobRun
    kind: password
    username: jobuser
    password: ${JOB_PASSWORD}          # secrets only as ${ENV_VAR} (or kind: keyVault + secret_uri)
target_groups:
  - name: ServerGroup
    members:
      - {target_type: server, engine: sqlite, server_name: "${DATA}/server1"}
jobs:
  - name: CreateTableTest
    steps:
      - {step_name: Step1, command: "CREATE TABLE ...", credential_name: JobRun,
         target_group_name: ServerGroup}
```

Field names are the HTTP API's; every entry is validated with the domain models, and errors name
the file, line and field (``fleet.yaml:12: jobs[0].steps[0].retry_atempts: unknown field``).
``${VAR}`` and ``${VAR:-default}`` expand environment variables in every value except step
``command`` text, which is SQL and is sent as written. A literal password is refused.

``load_fleet`` reads a file; ``plan_changes`` compares it with what the API holds and returns the
creates, changes and deletes (``prune``) in the order they can be applied.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sqlfleet.errors import SqlFleetError, ValidationFailed
from sqlfleet.models import (
    DEFAULT_STEP_NAME,
    Credential,
    CredentialIn,
    CredentialKind,
    Job,
    JobIn,
    MemberIn,
    OutputDestination,
    Schedule,
    StepIn,
    TargetGroup,
    TargetGroupIn,
)
from sqlfleet.models.validation import field_path, problems_error

SECTIONS: dict[str, type[BaseModel]] = {
    "credentials": CredentialIn,
    "target_groups": TargetGroupIn,
    "jobs": JobIn,
}
KINDS = {"credentials": "credential", "target_groups": "target group", "jobs": "job"}
# Environment references: ${NAME} or ${NAME:-default}.
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_WHOLE_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# Keys whose values are never expanded: SQL text ($ is common in it).
_VERBATIM_KEYS = frozenset({"command"})
# The fields a step document and a current step are compared on.
_STEP_FIELDS = (
    "step_name", "command", "credential_name", "target_group_name", "retry_attempts",
    "initial_retry_interval_seconds", "maximum_retry_interval_seconds",
    "retry_interval_backoff_multiplier", "step_timeout_seconds", "max_parallelism",
    "on_failure", "retry_on", "output",
)  # fmt: skip
_MEMBER_FIELDS = tuple(MemberIn.model_fields)


class FleetFileError(SqlFleetError):
    """A fleet file that cannot be used. ``source``, ``line`` (1-based, if known) and ``field``
    (``jobs[0].steps[1].command``) say where; the message is one line."""

    code = "FleetFileError"

    def __init__(self, source: str, line: int | None, field: str, reason: str) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {reason}" if field else f"{where}: {reason}")


@dataclass(frozen=True)
class Fleet:
    """A validated fleet file: documents by name, in file order, and the line of every field."""

    source: str
    credentials: dict[str, CredentialIn]
    target_groups: dict[str, TargetGroupIn]
    jobs: dict[str, JobIn]
    lines: Mapping[str, int] = field(default_factory=dict, repr=False)

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` (``jobs[0].steps[1]``), or of its nearest enclosing field."""
        return _line_of(self.lines, path)

    def error(self, path: str, reason: str) -> FleetFileError:
        return FleetFileError(self.source, self.line_of(path), path, reason)

    def with_members(self, group: str, members: Iterable[MemberIn]) -> Fleet:
        """This fleet with ``members`` appended to target group ``group`` (the demo's optional
        PostgreSQL databases). Raises ``FleetFileError`` when the group is not in the file."""
        if group not in self.target_groups:
            raise FleetFileError(self.source, None, "target_groups", f"no target group '{group}'")
        current = self.target_groups[group]
        grown = TargetGroupIn.model_validate(
            {**current.model_dump(), "members": [*current.members, *members]}
        )
        return replace(self, target_groups={**self.target_groups, group: grown})


def load_fleet(
    path: str | Path, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> Fleet:
    """Read and validate the fleet file at ``path``. Raises ``FleetFileError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise FleetFileError(
            str(path), None, "", f"cannot read the file: {error.strerror}"
        ) from None
    return parse_fleet(text, str(path), environ, base_dir)


def parse_fleet(
    text: str,
    source: str = "fleet.yaml",
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Fleet:
    """Validate fleet file ``text`` (``source`` names it in errors). Raises ``FleetFileError``.

    Relative SQLite folders (``engine: sqlite`` members and outputs) are made absolute against
    ``base_dir`` (default: the current directory), since the host may run elsewhere.
    """
    env = os.environ if environ is None else environ
    base = (base_dir or Path.cwd()).absolute()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise FleetFileError(source, mark.line + 1 if mark else None, "", f"{problem}") from None
    lines: dict[str, int] = {}
    reader = _NodeReader(source, env, lines)
    data = reader.value(root, "") if root is not None else {}
    if not isinstance(data, dict):
        raise FleetFileError(
            source, 1, "", "expected a mapping with credentials, target_groups, jobs"
        )
    for key in data:
        if key not in SECTIONS:
            raise FleetFileError(source, lines.get(key), key, _unknown(key, SECTIONS))
    sections: dict[str, dict[str, Any]] = {}
    for section, model in SECTIONS.items():
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise FleetFileError(source, lines.get(section), section, "expected a list of entries")
        sections[section] = {}
        for index, entry in enumerate(entries):
            path = f"{section}[{index}]"
            _absolute_sqlite_folders(entry, base)
            document = _validate(model, entry, path, source, lines)
            name = document.name  # type: ignore[attr-defined]
            if name in sections[section]:
                raise FleetFileError(
                    source, lines.get(path + ".name"), path + ".name",
                    f"{KINDS[section]} '{name}' is defined twice",
                )  # fmt: skip
            sections[section][name] = document
    return Fleet(
        source, sections["credentials"], sections["target_groups"], sections["jobs"], lines
    )


def _absolute_sqlite_folders(entry: Any, base: Path) -> None:
    if not isinstance(entry, dict):
        return
    places: list[Any] = list(entry.get("members") or [])
    places += [step.get("output") for step in entry.get("steps") or [] if isinstance(step, dict)]
    for place in places:
        if isinstance(place, dict) and place.get("engine") == "sqlite":
            folder = place.get("server_name")
            if isinstance(folder, str) and folder and not Path(folder).is_absolute():
                place["server_name"] = os.path.normpath(base / folder)


class _NodeReader:
    """YAML nodes -> plain values, recording each field's line and expanding ``${VAR}``."""

    def __init__(self, source: str, env: Mapping[str, str], lines: dict[str, int]) -> None:
        self.source = source
        self.env = env
        self.lines = lines
        self.constructor = yaml.constructor.SafeConstructor()

    def value(self, node: yaml.Node, path: str, key: str = "") -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                name = self.constructor.construct_object(key_node)
                if not isinstance(name, str):
                    raise self._error(key_node, path, f"keys must be text, not {name!r}")
                child = f"{path}.{name}" if path else name
                if name in result:
                    raise self._error(key_node, child, "is given twice")
                self.lines[child] = key_node.start_mark.line + 1
                result[name] = self.value(value_node, child, name)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        raw = self.constructor.construct_object(node)
        if key == "password":
            return self._password(node, path, raw)
        if isinstance(raw, str) and key not in _VERBATIM_KEYS:
            return self._expand(node, path, raw)
        return raw

    def _password(self, node: yaml.Node, path: str, raw: Any) -> Any:
        match = _WHOLE_REFERENCE.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise self._error(
                node, path,
                "a literal password is not allowed in a fleet file; write password: ${ENV_VAR} "
                "and set that variable, or use kind: keyVault with secret_uri",
            )  # fmt: skip
        return self._expand(node, path, raw)

    def _expand(self, node: yaml.Node, path: str, text: str) -> str:
        def lookup(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = self.env.get(name)
            if value:
                return value
            if default is not None:
                return default
            raise self._error(node, path, f"environment variable {name} is not set")

        return _REFERENCE.sub(lookup, text)

    def _error(self, node: yaml.Node, path: str, reason: str) -> FleetFileError:
        return FleetFileError(self.source, node.start_mark.line + 1, path, reason)


def _validate(
    model: type[BaseModel], entry: Any, path: str, source: str, lines: Mapping[str, int]
) -> BaseModel:
    if not isinstance(entry, dict):
        raise FleetFileError(source, lines.get(path), path, "expected a mapping (key: value lines)")
    if not entry.get("name"):
        raise FleetFileError(source, lines.get(path), path + ".name", "is required")
    try:
        return model.model_validate(entry)
    except ValidationError as error:
        errors = error.errors(include_url=False, include_input=False)
    first = errors[0]
    problem = problems_error(errors)
    relative = problem.field or field_path(first["loc"])
    full = f"{path}.{relative}" if relative else path
    if first["type"] == "extra_forbidden":
        reason = _unknown(str(first["loc"][-1]), _KNOWN_FIELDS)
    elif isinstance(problem, ValidationFailed):
        reason = problem.reason
    else:
        reason = problem.message
    raise FleetFileError(source, _line_of(lines, full), full, reason)


def _line_of(lines: Mapping[str, int], path: str) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


def _unknown(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown field '{key}'{hint}"


_KNOWN_FIELDS = frozenset(
    name
    for model in (CredentialIn, TargetGroupIn, MemberIn, JobIn, Schedule, StepIn, OutputDestination)
    for name in model.model_fields
)


# --- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One thing ``apply`` does. ``document`` is the PUT body; it may hold a secret and is
    never printed. ``fields`` lists what differs for a ``change``."""

    action: str  # create | change | delete | unchanged
    kind: str  # credential | target group | job
    name: str
    fields: tuple[str, ...] = ()
    document: dict[str, Any] | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "fields": list(self.fields),
        }


@dataclass(frozen=True)
class Plan:
    """Changes in an order the API accepts: creates/changes by dependency, deletes reversed."""

    changes: list[Change]

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def pending(self) -> list[Change]:
        return [change for change in self.changes if change.action != "unchanged"]

    def summary(self) -> str:
        return ", ".join(
            f"{self.count(action)} to {action}"
            if action != "unchanged"
            else f"{self.count(action)} unchanged"
            for action in ("create", "change", "delete", "unchanged")
        )


def plan_changes(
    fleet: Fleet,
    credentials: Sequence[Mapping[str, Any]],
    target_groups: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]],
    *,
    prune: bool = False,
    update_secrets: bool = False,
) -> Plan:
    """What makes the API hold ``fleet``, given its current documents (as the API answers them).

    Passwords cannot be read back: a password credential whose other fields match is unchanged
    unless ``update_secrets``. With ``prune``, objects the file does not declare are deleted.
    Raises ``FleetFileError`` for a reference to a credential or target group that will not
    exist.
    """
    have_credentials = {c["name"]: Credential.model_validate(c) for c in credentials}
    have_groups = {g["name"]: TargetGroup.model_validate(g) for g in target_groups}
    have_jobs = {j["name"]: Job.model_validate(j) for j in jobs}
    _check_references(
        fleet,
        set(fleet.credentials) | (set() if prune else set(have_credentials)),
        set(fleet.target_groups) | (set() if prune else set(have_groups)),
    )
    changes: list[Change] = []
    for name, wanted in fleet.credentials.items():
        changes.append(_credential_change(name, wanted, have_credentials.get(name), update_secrets))
    for name, group in fleet.target_groups.items():
        current = have_groups.get(name)
        differs = None if current is None else _group_differences(group, current)
        changes.append(_change("target group", name, differs, _document(group)))
    for name, job in fleet.jobs.items():
        current_job = have_jobs.get(name)
        differs = None if current_job is None else _job_differences(job, current_job)
        changes.append(_change("job", name, differs, _document(job)))
    if prune:
        for kind, have, wanted_names in (
            ("job", have_jobs, fleet.jobs),
            ("target group", have_groups, fleet.target_groups),
            ("credential", have_credentials, fleet.credentials),
        ):
            changes.extend(
                Change("delete", kind, name) for name in have if name not in wanted_names
            )
    return Plan(changes)


def _check_references(fleet: Fleet, credentials: set[str], groups: set[str]) -> None:
    def need(kind: str, name: str | None, known: set[str], path: str) -> None:
        if name is not None and name not in known:
            section = "credentials" if kind == "credential" else "target_groups"
            raise fleet.error(
                path,
                f"{kind} '{name}' is defined neither in the file nor on the server; "
                f"add it under {section}:",
            )

    for g, (group_name, group) in enumerate(fleet.target_groups.items()):
        del group_name
        for m, member in enumerate(group.members):
            need("credential", member.refresh_credential_name, credentials,
                 f"target_groups[{g}].members[{m}].refresh_credential_name")  # fmt: skip
    for j, job in enumerate(fleet.jobs.values()):
        for s, step in enumerate(job.steps or []):
            path = f"jobs[{j}].steps[{s}]"
            need("credential", step.credential_name, credentials, path + ".credential_name")
            need("target group", step.target_group_name, groups, path + ".target_group_name")
            if step.output is not None:
                need("credential", step.output.credential_name, credentials,
                     path + ".output.credential_name")  # fmt: skip


def _change(kind: str, name: str, differs: list[str] | None, document: dict[str, Any]) -> Change:
    if differs is None:
        return Change("create", kind, name, (), document)
    if differs:
        return Change("change", kind, name, tuple(differs), document)
    return Change("unchanged", kind, name)


def _document(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, exclude={"name"})


def _credential_change(
    name: str, wanted: CredentialIn, current: Credential | None, update_secrets: bool
) -> Change:
    document = _document(wanted)
    if wanted.password is not None:
        document["password"] = wanted.password.get_secret_value()
    if current is None:
        return Change("create", "credential", name, (), document)
    differs = [
        f
        for f in ("kind", "username", "secret_uri", "client_id", "description")
        if getattr(wanted, f) != getattr(current, f)
    ]
    if wanted.kind == CredentialKind.PASSWORD and (update_secrets or not current.has_secret):
        differs.append("password")
    return _change("credential", name, differs, document)


def _group_differences(wanted: TargetGroupIn, current: TargetGroup) -> list[str]:
    differs = ["description"] if wanted.description != current.description else []
    keep_ids = any(member.target_id is not None for member in wanted.members)
    mine = [_member_key(member, keep_ids) for member in wanted.members]
    theirs = [
        _member_key(MemberIn.model_validate({f: getattr(m, f) for f in _MEMBER_FIELDS}), keep_ids)
        for m in current.members
    ]
    if mine != theirs:
        differs.append("members")
    return differs


def _member_key(member: MemberIn, keep_ids: bool) -> dict[str, Any]:
    return member.model_dump(mode="json", exclude=set() if keep_ids else {"target_id"})


def _job_differences(wanted: JobIn, current: Job) -> list[str]:
    differs = [f for f in ("description", "enabled") if getattr(wanted, f) != getattr(current, f)]
    if wanted.schedule != current.schedule:
        differs.append("schedule")
    if wanted.notifications is not None:
        mine_rules = [rule.model_dump(mode="json") for rule in wanted.notifications]
        if mine_rules != [rule.model_dump(mode="json") for rule in current.notifications]:
            differs.append("notifications")
    if wanted.parameters is not None and wanted.parameters != current.parameters:
        differs.append("parameters")
    if wanted.steps is None:
        return differs
    mine = [_step_key(step, index) for index, step in enumerate(wanted.steps)]
    theirs = [_current_step_key(step.model_dump(mode="json")) for step in current.steps]
    if len(mine) != len(theirs):
        differs.append(f"steps ({len(theirs)} -> {len(mine)})")
        return differs
    for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        differs.extend(f"steps[{index}].{key}" for key in _STEP_FIELDS if a.get(key) != b.get(key))
    return differs


def _step_key(step: StepIn, index: int) -> dict[str, Any]:
    key = step.model_dump(mode="json", include=set(_STEP_FIELDS))
    if key.get("step_name") is None and index == 0:
        key["step_name"] = DEFAULT_STEP_NAME
    return key


def _current_step_key(step: Mapping[str, Any]) -> dict[str, Any]:
    # Through StepIn, like the file's steps, so that defaults and spellings compare equal.
    fields = {key: step[key] for key in _STEP_FIELDS if step.get(key) is not None}
    return StepIn.model_validate(fields).model_dump(mode="json", include=set(_STEP_FIELDS))
