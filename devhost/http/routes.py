"""ASP.NET-style route templates, as the Functions host matches ``route=`` of an httpTrigger.

Supported: literal segments (matched case-insensitively), ``{x}``, ``{x?}`` (optional: the
segment may be missing when every later segment is optional too), ``{x=default}``, ``{*rest}``
and ``{**rest}`` (catch-all, last segment only), constraints ``{x:int}``, ``{x:int:min(1)}``,
``{x:regex(^a+$)}`` and complex segments such as ``{name}.{ext}``.

``RouteTemplate.match(path)`` takes the path *relative to the route prefix* without its query
string and returns the route values (percent-decoded) or None. ``route_precedence`` orders
templates the way ASP.NET does: literals before constrained parameters before plain parameters
before optional ones before catch-alls, so ``items/new`` wins over ``items/{id}``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from dateutil import parser as date_parser

_PARAMETER = re.compile(r"\{([^{}]*)\}")
_CONSTRAINT = re.compile(r"^(?P<name>[A-Za-z]+)(?:\((?P<arg>.*)\))?$", re.DOTALL)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class RouteTemplateError(ValueError):
    """A route template cannot be parsed; the message names the template and the fix."""


def _is_integer(value: str, bounds: tuple[int, int]) -> bool:
    if not re.fullmatch(r"[+-]?\d+", value.strip()):
        return False
    return bounds[0] <= int(value) <= bounds[1]


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity")


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value.strip("{}()"))
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        date_parser.parse(value)
    except (ValueError, OverflowError):
        return False
    return True


def _numeric_bounds(arg: str, low: bool, high: bool) -> Callable[[str], bool]:
    parts = [int(a) for a in arg.split(",")]

    def check(value: str) -> bool:
        if not _is_integer(value, _INT64):
            return False
        number = int(value)
        if low and high:
            return parts[0] <= number <= parts[1]
        return number >= parts[0] if low else number <= parts[0]

    return check


def _length_bounds(arg: str, low: bool, high: bool) -> Callable[[str], bool]:
    parts = [int(a) for a in arg.split(",")]

    def check(value: str) -> bool:
        if low and high:
            if len(parts) == 1:
                return len(value) == parts[0]
            return parts[0] <= len(value) <= parts[1]
        return len(value) >= parts[0] if low else len(value) <= parts[0]

    return check


def _constraint(spec: str, template: str) -> Callable[[str], bool]:
    match = _CONSTRAINT.match(spec)
    if not match:
        raise RouteTemplateError(f"route '{template}': cannot read constraint '{spec}'")
    name, arg = match.group("name").lower(), match.group("arg")
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: _is_integer(v, _INT32),
        "long": lambda v: _is_integer(v, _INT64),
        "bool": lambda v: v.strip().lower() in ("true", "false"),
        "guid": _is_guid,
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
        "double": _is_number,
        "float": _is_number,
        "decimal": _is_number,
        "datetime": _is_datetime,
        "required": lambda v: v != "",
    }
    if name in simple and arg is None:
        return simple[name]
    try:
        if name == "min":
            return _numeric_bounds(arg or "", True, False)
        if name == "max":
            return _numeric_bounds(arg or "", False, True)
        if name == "range":
            return _numeric_bounds(arg or "", True, True)
        if name == "minlength":
            return _length_bounds(arg or "", True, False)
        if name == "maxlength":
            return _length_bounds(arg or "", False, True)
        if name == "length":
            return _length_bounds(arg or "", True, True)
        if name == "regex" and arg is not None:
            pattern = re.compile(arg, re.IGNORECASE)
            return lambda v: pattern.search(v) is not None
    except (ValueError, re.error) as error:
        raise RouteTemplateError(f"route '{template}': bad constraint '{spec}': {error}") from error
    raise RouteTemplateError(
        f"route '{template}': unknown constraint '{spec}'; supported: int, long, bool, guid, "
        "alpha, "
        "double, float, decimal, datetime, required, min, max, range, minlength, maxlength, "
        "length, regex"
    )


@dataclass(frozen=True)
class _Parameter:
    name: str
    optional: bool
    catch_all: bool
    default: str | None
    checks: tuple[Callable[[str], bool], ...]


def _split_constraints(body: str) -> list[str]:
    """``id:int:regex(a:b)`` -> ['id', 'int', 'regex(a:b)'] (colons inside parentheses stay)."""
    parts, depth, current = [], 0, ""
    for char in body:
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return parts


def _parse_parameter(body: str, template: str) -> _Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default = None
    depth = 0
    for index, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "=" and depth == 0:
            body, default = body[:index], body[index + 1 :]
            break
    optional = body.endswith("?")
    body = body.rstrip("?")
    name, *constraints = _split_constraints(body)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name):
        raise RouteTemplateError(f"route '{template}': bad parameter name '{name}'")
    checks = tuple(_constraint(c, template) for c in constraints)
    optional = optional or catch_all or default is not None
    return _Parameter(name, optional, catch_all, default, checks)


@dataclass
class RouteTemplate:
    """One compiled route template; ``match`` returns route values or None."""

    template: str
    _regex: re.Pattern[str] = field(init=False, repr=False)
    _parameters: list[_Parameter] = field(init=False, repr=False)
    precedence: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        segments = (
            [s for s in self.template.strip("/").split("/")] if self.template.strip("/") else []
        )
        self._parameters = []
        pieces: list[str] = []
        ranks: list[int] = []
        parsed = [
            self._parse_segment(segment, i == len(segments) - 1)
            for i, segment in enumerate(segments)
        ]
        for index, (parts, rank) in enumerate(parsed):
            ranks.append(rank)
            rest_optional = all(r >= 5 for _, r in parsed[index:])
            single = len(parts) == 1 and isinstance(parts[0], _Parameter)
            if single and parts[0].catch_all:  # type: ignore[union-attr]
                pieces.append(f"(?:/(?P<p{len(self._parameters)}>.*))?")
                self._parameters.append(parts[0])  # type: ignore[arg-type]
                continue
            body = ""
            for part in parts:
                if isinstance(part, _Parameter):
                    group = f"p{len(self._parameters)}"
                    body += f"(?P<{group}>[^/]+)" if single else f"(?P<{group}>[^/]+?)"
                    self._parameters.append(part)
                else:
                    body += re.escape(part)
            if single and parts[0].optional and rest_optional:  # type: ignore[union-attr]
                pieces.append(f"(?:/{body})?")
            else:
                pieces.append(f"/{body}")
        self._regex = re.compile("^" + "".join(pieces) + "/?$", re.IGNORECASE | re.DOTALL)
        self.precedence = tuple(ranks)

    def _parse_segment(self, segment: str, last: bool) -> tuple[list[str | _Parameter], int]:
        if segment == "":
            raise RouteTemplateError(f"route '{self.template}': empty segment ('//')")
        parts: list[str | _Parameter] = []
        position = 0
        for found in _PARAMETER.finditer(segment):
            if found.start() > position:
                parts.append(segment[position : found.start()])
            parts.append(_parse_parameter(found.group(1), self.template))
            position = found.end()
        if position < len(segment):
            parts.append(segment[position:])
        if any("{" in p or "}" in p for p in parts if isinstance(p, str)):
            raise RouteTemplateError(f"route '{self.template}': unbalanced braces in '{segment}'")
        parameters = [p for p in parts if isinstance(p, _Parameter)]
        if any(p.catch_all for p in parameters) and (not last or len(parts) != 1):
            raise RouteTemplateError(
                f"route '{self.template}': a catch-all parameter must be the whole last segment"
            )
        if not parameters:
            return parts, 1
        if len(parts) > 1:
            return parts, 2
        only = parameters[0]
        if only.catch_all:
            return parts, 6
        if only.optional or only.default is not None:
            return parts, 5
        return parts, 3 if only.checks else 4

    def match(self, path: str, *, decode: bool = True) -> dict[str, str] | None:
        """Route values for ``path`` (relative, no query), or None when it does not match.

        ``decode``: percent-decode each value (pass False when the path is already decoded).
        """
        normalized = "/" + path.strip("/") if path.strip("/") else ""
        found = self._regex.match(normalized)
        if found is None:
            return None
        values: dict[str, str] = {}
        for index, parameter in enumerate(self._parameters):
            raw = found.group(f"p{index}")
            if raw is None or raw == "":
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            value = unquote(raw) if decode else raw
            if not all(check(value) for check in parameter.checks):
                return None
            values[parameter.name] = value
        return values


def route_precedence(template: RouteTemplate) -> tuple[int, ...]:
    """Sort key: more specific templates first (ASP.NET inbound route precedence)."""
    return template.precedence
