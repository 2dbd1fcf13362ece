"""The one exception tree of SQL Fleet's domain.

Every exception carries the ids involved as attributes and a message that says what happened,
what was expected and how to fix it. ``api.errors.error_response`` maps this tree to HTTP; the CLI
prints ``message``. Messages never contain secrets: callers pass names, never credential values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple


def first_line(text: object, limit: int = 1000, empty: str = "internal error") -> str:
    """The first non-empty line of ``text`` (an error's message, any value), cut to ``limit``
    characters; ``empty`` when there is none. For messages that must stay one line."""
    for line in str(text).strip().splitlines():
        if line.strip():
            return line.strip()[:limit]
    return empty


class SqlFleetError(Exception):
    """Base of every domain error. ``code`` is stable and part of the API contract."""

    code = "SqlFleetError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(SqlFleetError):
    """A named object does not exist (``kind`` such as 'job', ``name`` its name or id).

    ``field`` names the input that named it, when the raiser knows (else the API finds it)."""

    code = "NotFound"

    def __init__(
        self, kind: str, name: str | int, hint: str = "", *, field: str | None = None
    ) -> None:
        self.kind = kind
        self.name = name
        self.field = field
        text = f"{kind} '{name}' does not exist"
        super().__init__(f"{text}; {hint}" if hint else text)


class Conflict(SqlFleetError):
    """The request is valid but clashes with the current state of ``kind`` ``name``.

    ``field`` names the input at fault, when the raiser knows (else the API finds it)."""

    code = "Conflict"

    def __init__(self, kind: str, name: str, reason: str, *, field: str | None = None) -> None:
        self.kind = kind
        self.name = name
        self.reason = reason
        self.field = field
        super().__init__(f"{kind} '{name}': {reason}")


class InUse(Conflict):
    """``kind`` ``name`` cannot be deleted: ``used_by`` (e.g. "job 'j' step 2") refer to it."""

    code = "InUse"

    def __init__(self, kind: str, name: str, used_by: Sequence[str]) -> None:
        self.used_by = list(used_by)
        shown = ", ".join(self.used_by[:5]) + (" ..." if len(self.used_by) > 5 else "")
        super().__init__(
            kind, name, f"still used by {shown}; change or delete those first, then retry"
        )


class ActiveExecutions(Conflict):
    """Job ``job_name`` has active executions and the request did not say ``force``."""

    code = "ActiveExecution"

    def __init__(self, job_name: str, job_execution_ids: Sequence[str]) -> None:
        self.job_execution_ids = list(job_execution_ids)
        super().__init__(
            "job",
            job_name,
            f"{len(self.job_execution_ids)} execution(s) still active "
            f"({', '.join(self.job_execution_ids[:3])}); wait for them, or delete with force=true "
            "to cancel them",
        )


class IllegalTransition(Conflict):
    """A lifecycle change the transition table does not allow."""

    code = "IllegalTransition"

    def __init__(self, kind: str, name: str, current: str, requested: str) -> None:
        self.current = current
        self.requested = requested
        super().__init__(kind, name, f"cannot go from {current} to {requested}")


class TargetsStillActive(Conflict):
    """Step ``step_id`` of execution ``job_execution_id`` cannot end yet: ``active`` of its
    targets are still active (their retry lanes end them)."""

    code = "TargetsStillActive"

    def __init__(self, job_execution_id: str, step_id: int, active: int) -> None:
        self.job_execution_id = job_execution_id
        self.step_id = step_id
        self.active = active
        super().__init__(
            "step execution",
            f"{job_execution_id} step {step_id}",
            f"{active} child execution(s) still active",
        )


class ConcurrentChange(Conflict):
    """Another writer changed ``kind`` ``name`` at the same moment; the request may be retried."""

    code = "ConcurrentChange"

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(kind, name, "was changed by another request at the same time; retry")


class FieldProblem(NamedTuple):
    """One rejected field: a dotted path such as ``members[1].database_name`` and why."""

    field: str
    message: str


class ValidationFailed(SqlFleetError):
    """Input broke a rule. ``field`` names the first offending field; ``problems`` lists all."""

    code = "ValidationFailed"

    def __init__(
        self, field: str, reason: str, problems: Sequence[FieldProblem] | None = None
    ) -> None:
        self.field = field
        self.reason = reason
        self.problems = list(problems) if problems else [FieldProblem(field, reason)]
        super().__init__(f"{field}: {reason}" if field else reason)


class SqliteFolderRefused(ValidationFailed):
    """A SQLite folder (``server_name``) the host does not allow: outside
    ``SQLFLEET_SQLITE_ROOTS``, or the host's own data (``sqlfleet.sqlitefolders``)."""

    code = "SqliteFolderRefused"

    def __init__(self, field: str, folder: str, reason: str) -> None:
        self.folder = folder
        super().__init__(field, reason)
        self.message = f"{field} '{folder}': {reason}"
        self.args = (self.message,)


class BadRequest(ValidationFailed):
    """The request itself is malformed (not JSON, a bad query parameter), not its content."""

    code = "BadRequest"


class UnsupportedMediaType(BadRequest):
    """A body that is read as JSON came with another content type (say ``text/plain``)."""

    code = "UnsupportedMediaType"

    def __init__(self, content_type: str | None) -> None:
        given = f"'{content_type}'" if content_type else "no Content-Type"
        super().__init__(
            "Content-Type",
            f"the body is read as JSON, but the request says {given}; send it as "
            "Content-Type: application/json",
        )


class Unsupported(SqlFleetError):
    """A known feature that SQL Fleet does not implement (answered 501, never silently ignored)."""

    code = "Unsupported"

    def __init__(self, feature: str, field: str | None = None, hint: str = "") -> None:
        self.feature = feature
        self.field = field
        text = f"{feature} is not supported"
        super().__init__(f"{text}; {hint}" if hint else text)


class ReadOnlyAccess(SqlFleetError):
    """The request would change something, but the key it presents may only look
    (``SQLFLEET_READ_ONLY_KEYS``). ``field`` is where the key came from."""

    code = "ReadOnlyKey"

    def __init__(self, action: str, field: str = "x-functions-key") -> None:
        self.action = action
        self.field = field
        super().__init__(
            f"the key this request presents is read-only (it is in SQLFLEET_READ_ONLY_KEYS): it "
            f"may look but not act, so {action} is refused; send a function key that may act"
        )


class SettingError(SqlFleetError):
    """An app setting is missing or invalid; ``setting`` is its environment variable name."""

    code = "SettingError"

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"setting {setting}: {reason}")


class JobDatabaseUnavailable(SqlFleetError):
    """The job database could not be reached or answered with an operational error."""

    code = "JobDatabaseUnavailable"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the job database is unavailable: {reason}")


class JobDatabaseCorrupt(SqlFleetError):
    """The SQLite job database ``database`` is not a sound SQLite database (truncated,
    overwritten, not SQLite at all); ``reason`` is what SQLite said."""

    code = "JobDatabaseCorrupt"

    def __init__(self, database: str, reason: str) -> None:
        self.database = database
        self.reason = reason
        super().__init__(
            f"the job database {database} is damaged ({reason}); restore it from a backup, or "
            "move it (with its -wal and -shm files) away to start with an empty job database"
        )


class JobDatabaseInUse(SqlFleetError):
    """Another host holds the SQLite job database ``database`` (its lock file ``lock_file``);
    ``holder`` is what that host wrote there (pid, command, started) as far as it was read."""

    code = "JobDatabaseInUse"

    def __init__(self, database: str, lock_file: str, holder: Mapping[str, Any]) -> None:
        self.database = database
        self.lock_file = lock_file
        self.holder = dict(holder)
        pid = self.holder.get("pid", "unknown")
        command = f", {self.holder['command']}" if self.holder.get("command") else ""
        since = f", since {self.holder['started']}" if self.holder.get("started") else ""
        super().__init__(
            f"the job database {database} is in use by another SQL Fleet host (pid {pid}"
            f"{command}{since}; lock file {lock_file}). Two hosts on one SQLite job database "
            "would both run its schedules and end each other's executions: stop that host, or "
            "give this one its own SQLFLEET_DATA_DIR (or SQLFLEET_JOB_DATABASE_URL)"
        )
