"""Where SQLite targets may be: folders under ``SQLFLEET_SQLITE_ROOTS``, never the host's data.

A SQLite "server" is a folder of the host and its databases are the ``*.db`` files in it, so a
member or an output destination names a place on the host's disk. Only places the operator
allows may be one:

- the folder, with symlinks and ``..`` resolved, lies under one of ``SQLFLEET_SQLITE_ROOTS``
  (none by default, so no SQLite target at all; ``sqlfleet demo`` allows its own folder);
- it is not the data folder (``SQLFLEET_DATA_DIR``: the job database, the credential key, the
  task hub of ``sqlfleet serve``) nor inside it, nor inside the folder of a SQLite job
  database kept elsewhere (``SQLFLEET_JOB_DATABASE_URL``).

The API checks the folder when a member or an output destination is saved (422 naming the
field). The file is checked again, resolved, each time a target is opened
(``sqlfleet.sqlitefiles``): a symlink changed since, or a member saved under other settings,
fails the target and nothing is opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlfleet.errors import SqliteFolderRefused
from sqlfleet.settings import DATA_DIR, JOB_DATABASE_URL, SQLITE_ROOTS, Settings

DATABASE_SUFFIX = ".db"


@dataclass(frozen=True)
class SqliteFolders:
    """The rule above, as data a script process can receive: ``roots`` and ``protected``
    (with what each protected folder is), all absolute with symlinks resolved."""

    roots: tuple[Path, ...] = ()
    protected: tuple[tuple[Path, str], ...] = ()

    def __post_init__(self) -> None:
        # Resolved once here, so that comparisons hold whoever built the rule.
        object.__setattr__(self, "roots", tuple(Path(r).absolute().resolve() for r in self.roots))
        protected = tuple((Path(p).absolute().resolve(), what) for p, what in self.protected)
        object.__setattr__(self, "protected", protected)

    @classmethod
    def from_settings(cls, settings: Settings) -> SqliteFolders:
        """The rule of a host with ``settings``."""
        protected = [(settings.data_dir.resolve(), f"the host's data folder ({DATA_DIR})")]
        job_database = _sqlite_file(settings.job_database_url)
        if job_database is not None:
            protected.append(
                (job_database.resolve().parent, f"the job database's folder ({JOB_DATABASE_URL})")
            )
        return cls(tuple(settings.sqlite_roots), tuple(protected))

    def folder(self, server_name: str, field: str = "server_name") -> Path:
        """``server_name`` as a folder, resolved (relative to the working directory), when a
        SQLite target may lie there. Raises ``SqliteFolderRefused`` naming ``field``."""
        return Path(self._folder_text(server_name, field))

    def _folder_text(self, server_name: str, field: str) -> str:
        # As Path(server_name).absolute().resolve(), in strings: this runs per target opened.
        resolved = os.path.realpath(os.path.join(os.getcwd(), server_name))
        self._check(resolved, server_name, field)
        return resolved

    def database_file(self, server_name: str, database: str, field: str = "server_name") -> Path:
        """The file of ``database`` (``db1`` or ``db1.db``) in folder ``server_name``, resolved
        through symlinks, when both may be used. Raises ``SqliteFolderRefused``."""
        folder = self._folder_text(server_name, field)
        name = database if database.endswith(DATABASE_SUFFIX) else database + DATABASE_SUFFIX
        if not name or "/" in name or os.sep in name or name in (".", ".."):
            raise SqliteFolderRefused(field, server_name, f"'{database}' is not a file name")
        joined = os.path.join(folder, name)
        resolved = os.path.realpath(joined)
        self._check(resolved, server_name, field, shown=joined)
        return Path(resolved)

    def check_members(self, members: Iterable[Any], prefix: str | None = "members") -> None:
        """Refuse the first SQLite member whose folder may not be used; ``prefix`` names the
        list in the document (None: the document is the one member)."""
        for index, member in enumerate(members):
            if _engine(member) == "sqlite":
                field = f"{prefix}[{index}].server_name" if prefix else "server_name"
                self.folder(member.server_name, field)

    def check_output(self, output: Any, prefix: str = "output") -> None:
        """Refuse a SQLite output destination whose folder may not be used."""
        if output is not None and _engine(output) == "sqlite":
            self.folder(output.server_name, f"{prefix}.server_name")

    def _check(self, path: str, server_name: str, field: str, shown: str = "") -> None:
        where = f" (resolved: {path})" if path not in (server_name, shown) else ""
        for folder, what in self.protected:
            if _within(path, folder):
                raise SqliteFolderRefused(
                    field,
                    server_name,
                    f"SQLite targets may never be in {what} or anything inside it{where}",
                )
        if not any(_within(path, root) for root in self.roots):
            now = os.pathsep.join(str(root) for root in self.roots) or "none set"
            raise SqliteFolderRefused(
                field,
                server_name,
                f"SQLite folders must lie under {SQLITE_ROOTS} (now: {now}){where}; the host's "
                "operator decides which folders are allowed",
            )


def _within(path: str, folder: Path) -> bool:
    """Whether ``path`` (absolute, resolved) is ``folder`` (the same) or lies inside it,
    compared as text: ``folder in Path(path).parents`` costs a path object per level, and this
    runs for every target opened."""
    inside = str(folder)
    return path == inside or path.startswith(inside.rstrip(os.sep) + os.sep)


def _engine(document: Any) -> str:
    engine = getattr(document, "engine", None)
    return str(getattr(engine, "value", engine) or "")


def _sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` (or ``sqlite+driver:///path``) URL, else None."""
    scheme, _, rest = url.partition(":///")
    if scheme.split("+")[0] != "sqlite" or not rest:
        return None
    path = rest.split("?")[0]
    return None if path in ("", ":memory:") else Path(path)
