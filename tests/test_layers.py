"""The packages keep to their layers: the three Function packages share only ``sqlfleet`` (the
contract between them is ``sqlfleet.durable``), the library never reaches into the Functions,
and ``devhost`` runs any app without knowing this one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package: the top-level packages it must never import
FORBIDDEN = {
    "api": {"activities", "orchestrators", "devhost"},
    "activities": {"api", "orchestrators", "devhost"},
    "orchestrators": {"api", "activities", "devhost"},
    "sqlfleet": {"api", "activities", "orchestrators", "devhost"},
    "devhost": {"api", "activities", "orchestrators", "sqlfleet"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a module imports (absolute imports only; the code uses no
    relative ones)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def imported_modules(path: Path) -> set[str]:
    """The full names of the modules a module imports (``from a.b import c`` gives ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_none_of_the_layers_it_must_not(package: str) -> None:
    breaches = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }
    assert {path: names for path, names in breaches.items() if names} == {}


def test_the_library_never_imports_its_command_line() -> None:
    """``sqlfleet.cli`` (the CLI, the demo) builds on the library, never the other way."""
    breaches = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "sqlfleet").rglob("*.py"))
        if "cli" not in path.relative_to(ROOT / "sqlfleet").parts[:1]
        and any(
            name == "sqlfleet.cli" or name.startswith("sqlfleet.cli.")
            for name in imported_modules(path)
        )
    ]
    assert breaches == []


def test_the_check_sees_imports() -> None:
    """The walker finds both import forms (so an empty answer above means something)."""
    found = imported_packages(ROOT / "activities" / "reconciliation.py")
    assert {"sqlfleet", "activities", "azure"} <= found
