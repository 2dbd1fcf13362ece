"""The Python worker's load-time checks of one function, for Pythons its library does not run on.

``azure-functions-runtime`` (Python 3.13+) and the worker Azure bundles for 3.10 to 3.12 refuse a
function whose signature does not fit its bindings, and refusing one function fails the whole
app. :func:`check_function` applies the same rules, in the same order, with the same messages
(``cannot load the <name> function: ...``), so an app devhost accepts on Python 3.11 loads on
Azure too. ``tests/devhost/host/test_worker_loading.py`` holds both to the same table of apps.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.bindings import converter_for, has_implicit_output

DIRECTION_IN, DIRECTION_OUT, DIRECTION_INOUT = 0, 1, 2
DATA_TYPE_UNDEFINED = 0
HTTP_TRIGGER = "httpTrigger"
_NOT_GENERIC_ORIGINS = (typing.Union, tuple, typing.ClassVar, collections.abc.Callable)


class FunctionLoadError(RuntimeError):
    """A function the worker would refuse; the message is the worker's."""

    def __init__(self, function_name: str, reason: str) -> None:
        super().__init__(f"cannot load the {function_name} function: {reason}")


@dataclass(frozen=True)
class ParameterType:
    binding: str  # the binding type used to convert it ("generic" for str/bytes parameters)
    pytype: Any


@dataclass(frozen=True)
class CheckedFunction:
    """What invocation needs to know of a function that passed the checks."""

    name: str
    function: typing.Callable[..., Any]
    directory: str
    requires_context: bool
    is_async: bool
    has_return: bool
    inputs: dict[str, ParameterType]
    outputs: dict[str, ParameterType]
    return_type: ParameterType | None


def is_generic(annotation: Any) -> bool:
    """The worker's notion of a generic type: ``typing`` aliases, not PEP 585 ones."""
    if isinstance(annotation, type) and issubclass(annotation, typing.Generic):
        return True
    aliases = (getattr(typing, "_GenericAlias"), getattr(typing, "_SpecialGenericAlias"))  # noqa: B009
    return isinstance(annotation, aliases) and annotation.__origin__ not in _NOT_GENERIC_ORIGINS


def _generic_origin(annotation: Any) -> Any:
    if isinstance(annotation, getattr(typing, "_GenericAlias")):  # noqa: B009
        return None if annotation.__origin__ is typing.ClassVar else annotation.__origin__
    return typing.Generic if annotation is typing.Generic else None


def _is_out(annotation: Any) -> bool:
    candidate = annotation
    if is_generic(annotation):
        origin = _generic_origin(annotation)
        candidate = origin if origin is not None else annotation
    return isinstance(candidate, type) and candidate.__name__ == "Out"


def _direction(binding: Any) -> int:
    return int(getattr(binding.direction, "value", binding.direction))


def check_function(function: Any) -> CheckedFunction:
    """Apply the worker's checks to one ``azure.functions`` Function; raises FunctionLoadError."""
    user_function = function.get_user_function()
    name = function.get_function_name()
    parameters = dict(inspect.signature(user_function).parameters)
    annotations = typing.get_type_hints(user_function)
    directory = str(Path(inspect.getfile(user_function)).parent)

    bound: dict[str, Any] = {}
    explicit_return = implicit_return = False
    return_binding: str | None = None  # the $return binding's type, else the last implicit one
    for binding in function.get_bindings():
        direction = _direction(binding)
        if direction == DIRECTION_INOUT:
            raise FunctionLoadError(name, '"inout" bindings are not supported')
        if binding.name == "$return" and direction != DIRECTION_OUT:
            raise FunctionLoadError(name, '"$return" binding must have direction set to "out"')
        if binding.name == "$return":
            if not explicit_return:
                return_binding = binding.type
            explicit_return = True
            continue
        bound[binding.name] = binding
        if has_implicit_output(binding.type):
            implicit_return = True
            if not explicit_return:
                return_binding = binding.type

    requires_context = False
    if "context" in parameters and "context" not in bound:
        requires_context = True
        parameters.pop("context")
        context_annotation = annotations.get("context")
        if "context" in annotations and (
            not isinstance(context_annotation, type) or context_annotation.__name__ != "Context"
        ):
            raise FunctionLoadError(
                name,
                'the "context" parameter is expected to be of type azure.functions.Context, '
                f'got "{context_annotation!r}"',
            )

    missing = set(parameters) - set(bound)
    if missing:
        raise FunctionLoadError(
            name,
            "the following parameters are declared in Python but not in the function "
            f"definition (function.json or function decorators):  {missing!r}",
        )
    extra = set(bound) - set(parameters)
    if extra:
        raise FunctionLoadError(
            name,
            "Extra parameters in binding definition \u2014 the following parameters are declared "
            f"as bindings but are not present in Python: {extra!r}",
        )

    inputs: dict[str, ParameterType] = {}
    outputs: dict[str, ParameterType] = {}
    for parameter in parameters.values():
        binding = bound[parameter.name]
        kind, pytype = _check_parameter(name, parameter.name, binding, annotations)
        target = outputs if _direction(binding) == DIRECTION_OUT else inputs
        target[parameter.name] = ParameterType(kind, pytype)

    return_type = _return_type(
        name, annotations, explicit_return, implicit_return, return_binding or ""
    )
    return CheckedFunction(
        name=name,
        function=user_function,
        directory=directory,
        requires_context=requires_context,
        is_async=inspect.iscoroutinefunction(user_function),
        has_return=explicit_return or implicit_return,
        inputs=inputs,
        outputs=outputs,
        return_type=return_type,
    )


def _check_parameter(
    function_name: str, parameter: str, binding: Any, annotations: dict[str, Any]
) -> tuple[str, Any]:
    has_annotation = parameter in annotations
    annotation = annotations.get(parameter)
    is_out = has_annotation and _is_out(annotation)
    binding_out = _direction(binding) == DIRECTION_OUT
    pytype = annotation
    if is_out:
        arguments = typing.get_args(annotation)
        if len(arguments) != 1:
            raise FunctionLoadError(
                function_name, f"binding {parameter} has invalid Out annotation {annotation!r}"
            )
        pytype = arguments[0]
    if has_annotation and not isinstance(pytype, type) and not is_generic(pytype):
        raise FunctionLoadError(
            function_name, f"binding {parameter} has invalid non-type annotation {annotation!r}"
        )
    if binding_out and has_annotation and not is_out:
        raise FunctionLoadError(
            function_name,
            f'binding {parameter} is declared to have the "out" direction, but its annotation '
            "in Python is not a subclass of azure.functions.Out",
        )
    if not binding_out and is_out:
        raise FunctionLoadError(
            function_name,
            f'binding {parameter} is declared to have the "in" direction in the binding '
            "decorator, but its annotation is azure.functions.Out in Python",
        )
    kind = binding.type
    if has_annotation and pytype in (str, bytes) and not has_implicit_output(binding.type):
        kind = "generic"
    if has_annotation:
        converter = converter_for(kind)
        fits = (
            converter.check_output_type_annotation(pytype)
            if is_out
            else converter.check_input_type_annotation(pytype)
        )
        if not fits:
            if binding.data_type is not DATA_TYPE_UNDEFINED:
                raise FunctionLoadError(
                    function_name,
                    f'binding type "{parameter!r}" and dataType "{binding.type}" in the binding '
                    "decorator do not match the corresponding function parameter's Python type "
                    f"annotation {_type_name(pytype)}",
                )
            raise FunctionLoadError(
                function_name,
                f'type of {parameter} binding in the binding decorator "{binding.type}" does '
                f'not match its Python annotation "{_type_name(pytype)}"',
            )
    return kind, pytype


def _type_name(pytype: Any) -> str:
    return str(getattr(pytype, "__name__", pytype))


def _return_type(
    function_name: str,
    annotations: dict[str, Any],
    explicit: bool,
    implicit: bool,
    binding: str,
) -> ParameterType | None:
    pytype = None
    if explicit and "return" in annotations:
        annotation = annotations["return"]
        if is_generic(annotation) and getattr(_generic_origin(annotation), "__name__", "") == "Out":
            raise FunctionLoadError(
                function_name, "return annotation should not be azure.functions.Out"
            )
        if not isinstance(annotation, type):
            raise FunctionLoadError(
                function_name, f"has invalid non-type return annotation {annotation!r}"
            )
        if not converter_for(binding).check_output_type_annotation(annotation):
            raise FunctionLoadError(
                function_name,
                f'Python return annotation "{annotation.__name__}" does not match binding type '
                f'"{binding}"',
            )
        pytype = annotation
    if implicit and "return" in annotations:
        pytype = annotations["return"]
    if explicit or implicit:
        return ParameterType(binding, pytype)
    return None
