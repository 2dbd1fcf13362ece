"""Reading ``infra/*.bicep`` in tests: the Function App's settings, parameters and variables.

Nothing here compiles Bicep (checkov's parser checks the syntax, ``test_bicep.py``): this reads
the few simple forms the templates use, and fails loudly on any other.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
RESOURCES = INFRA / "resources.bicep"
_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


def text(path: Path = RESOURCES) -> str:
    return path.read_text(encoding="utf-8")


def block(source: str, opening: str) -> list[str]:
    """The lines inside the ``{ ... }`` that ``opening`` (a line's start, stripped) opens."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(opening))
    depth, body = 0, []
    for line in lines[start:]:
        depth += line.count("{") - line.count("}")
        body.append(line)
        if depth == 0:
            break
    return body[1:-1]


def app_settings(source: str | None = None) -> dict[str, str]:
    """``NAME: expression`` of the Function App's ``appsettings`` config, in file order."""
    source = text() if source is None else source
    config = "\n".join(block(source, "resource settings 'config' = {"))
    properties = block(config, "properties: {")
    settings: dict[str, str] = {}
    for line in properties:
        stripped = line.strip()
        if not stripped or stripped.startswith("//"):
            continue
        name, _, expression = stripped.partition(": ")
        assert name and expression, f"unexpected app setting line: {line!r}"
        settings[name] = expression
    return settings


def variables(source: str | None = None) -> dict[str, str]:
    """``var NAME = expression`` for one-line variables."""
    source = text() if source is None else source
    return dict(re.findall(r"^var (\w+) = (.+)$", source, re.MULTILINE))


def parameter(name: str, source: str | None = None) -> tuple[list[str] | None, str | None]:
    """(allowed values, default expression) of ``param name``."""
    source = text() if source is None else source
    lines = source.splitlines()
    index = next(i for i, line in enumerate(lines) if re.match(rf"param {name}\b", line))
    default = lines[index].partition(" = ")[2] or None
    allowed = None
    for line in reversed(lines[:index]):
        if not line.startswith("@"):
            break
        if line.startswith("@allowed("):
            allowed = [str(v) for v in ast.literal_eval(line[len("@allowed(") : -1])]
    return allowed, default


def evaluate(expression: str, samples: dict[str, str], source: str | None = None) -> str:
    """The value of a string literal (interpolations from ``samples``), a variable or
    ``string(param)``. Raises ``KeyError`` for an interpolation the samples do not cover."""
    source = text() if source is None else source
    expression = expression.strip()
    if expression.startswith("'") and expression.endswith("'"):
        literal = expression[1:-1].replace("\\\\", "\\")
        return _INTERPOLATION.sub(lambda match: samples[match.group(1)], literal)
    if expression.startswith("string(") and expression.endswith(")"):
        _, default = parameter(expression[len("string(") : -1], source)
        assert default is not None
        return default
    value = variables(source).get(expression)
    if value is not None:
        return evaluate(value, samples, source)
    return samples[expression]
