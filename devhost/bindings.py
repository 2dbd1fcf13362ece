"""Binding conversions the way the Python worker makes them: ``TypedData`` <-> Python values.

The worker looks a binding type up in ``azure.functions``' converter registry
(``httpTrigger``, ``timerTrigger``, ``activityTrigger``, ``durableClient``, ...) and falls back to
a generic converter for types it does not know, or for ``str``/``bytes`` parameters. A converter
decodes a ``Datum`` (a value and its ``TypedData`` kind) into the parameter and encodes a return
value into a ``Datum``; these functions carry ``Datum`` to and from :mod:`devhost.rpc` messages.
:class:`devhost.inprocessworker.InProcessWorker` uses them; the runtime worker has its own.
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any

import azure.functions as func
from azure.functions.meta import Datum

from devhost import rpc


class GenericConverter:
    """What the worker uses for a binding type no converter claims."""

    @classmethod
    def has_trigger_support(cls) -> bool:
        return False

    @classmethod
    def check_input_type_annotation(cls, pytype: type) -> bool:
        return issubclass(pytype, (str, bytes))

    @classmethod
    def check_output_type_annotation(cls, pytype: type) -> bool:
        return issubclass(pytype, (str, bytes, bytearray))

    @classmethod
    def decode(cls, data: Datum | None, *, trigger_metadata: Any) -> Any:
        if data is None or data.type is None:
            return None
        if data.type in ("string", "bytes", "json"):
            return data.value
        raise ValueError(
            'unexpected type of data received for the "generic" binding ', repr(data.type)
        )

    @classmethod
    def encode(cls, obj: Any, *, expected_type: type | None) -> Datum:
        if isinstance(obj, str):
            return Datum(type="string", value=obj)
        if isinstance(obj, (bytes, bytearray)):
            return Datum(type="bytes", value=bytes(obj))
        if obj is None:
            return Datum(type=None, value=None)
        for kind, types in (("dict", dict), ("list", list), ("int", int), ("double", float)):
            if isinstance(obj, types):
                return Datum(type=kind, value=obj)
        raise NotImplementedError


def converter_for(binding: str) -> Any:
    """The converter class the worker would use for a binding type."""
    found = func.get_binding_registry().get(binding)  # type: ignore[no-untyped-call]
    return found if found is not None else GenericConverter


def has_implicit_output(binding: str) -> bool:
    """Whether a binding's converter returns the function's value (durable triggers do)."""
    converter = converter_for(binding)
    if converter is GenericConverter:
        return binding != "durableClient"
    return bool(getattr(converter, "has_implicit_output", lambda: False)())


def to_datum(data: Any) -> Datum | None:
    """A ``TypedData`` message as the converters read it."""
    if data is None:
        return None
    kind = data.WhichOneof("data")
    if kind is None:
        return None
    if kind == "http":
        http = data.http
        return Datum(
            type="http",
            value={
                "method": Datum(http.method, "string"),
                "url": Datum(http.url, "string"),
                "headers": {k: Datum(v, "string") for k, v in http.headers.items()},
                "body": to_datum(http.body) or Datum(type="bytes", value=b""),
                "params": {k: Datum(v, "string") for k, v in http.params.items()},
                "query": {k: Datum(v, "string") for k, v in http.query.items()},
            },
        )
    if kind in ("string", "bytes", "json", "int", "double"):
        return Datum(getattr(data, kind), kind)
    raise NotImplementedError(f"unsupported TypeData kind: {kind}")


def to_typed_data(datum: Datum | None) -> Any:
    """A converter's ``Datum`` as the ``TypedData`` the worker sends back (None for none)."""
    if datum is None or datum.type is None:
        return None
    kind, value = datum.type, datum.value
    if kind in ("string", "bytes", "json", "int", "double"):
        return rpc.TypedData(**{kind: value})
    if kind in ("dict", "list"):
        return rpc.TypedData(json=json.dumps(value))
    if kind == "bool":
        return rpc.TypedData(int=int(value))
    if kind == "http":
        return rpc.TypedData(
            http=rpc.RpcHttp(
                status_code=value["status_code"].value,
                headers={k: v.value for k, v in value["headers"].items()},
                cookies=_cookies(value.get("cookies")),
                enable_content_negotiation=False,
                body=to_typed_data(value["body"]),
            )
        )
    raise NotImplementedError(f"unexpected Datum type: {kind}")


def _cookies(cookies: list[SimpleCookie] | None) -> list[Any]:
    """Set-Cookie headers as ``RpcHttpCookie`` messages (name, value and the plain attributes)."""
    found = []
    for cookie in cookies or []:
        for name, morsel in cookie.items():
            found.append(
                rpc.RpcHttpCookie(
                    name=name,
                    value=morsel.value,
                    domain=rpc.NullableString(value=morsel["domain"]) if morsel["domain"] else None,
                    path=rpc.NullableString(value=morsel["path"]) if morsel["path"] else None,
                    secure=rpc.NullableBool(value=bool(morsel["secure"])),
                    http_only=rpc.NullableBool(value=bool(morsel["httponly"])),
                    same_site=_same_site(morsel["samesite"]),
                    max_age=rpc.NullableDouble(value=float(morsel["max-age"]))
                    if morsel["max-age"]
                    else None,
                )
            )
    return found


def _same_site(text: str) -> int:
    return {"lax": 1, "strict": 2, "none": 3}.get(str(text or "").lower(), 0)
