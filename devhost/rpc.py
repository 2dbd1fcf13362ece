"""The host <-> language worker messages, as plain Python objects.

The Functions host talks to its Python worker over gRPC with the ``FunctionRpc`` protobuf
messages. ``azure-functions-runtime`` (the worker library Azure runs for Python 3.13+) receives
the module holding those message classes as ``protos`` and only ever builds them by keyword,
reads their fields, asks ``WhichOneof`` and compares enum numbers. This module is that module for
a host that lives in the worker's own process: the same message and field names, the same enum
numbers, no wire format. Fields never set read as the protobuf default (``""``, ``0``, ``False``,
an empty list or map, or ``None`` for a message).
"""

from __future__ import annotations

from typing import Any, ClassVar


class Message:
    """A protobuf-like message: keyword construction, defaults, ``WhichOneof``."""

    FIELDS: ClassVar[dict[str, Any]] = {}
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        for name, default in self.FIELDS.items():
            value = values.get(name)
            if value is None:
                value = default() if callable(default) else default
            setattr(self, name, value)
        self._set = {name for name, value in values.items() if value is not None}

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802 - protobuf's name
        """The field of the oneof ``group`` that was set, or None."""
        for name in self.ONEOFS[group]:
            if name in self._set:
                return name
        return None

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's name
        return name in self._set

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in sorted(self._set))
        return f"{type(self).__name__}({shown})"


def _message(name: str, fields: dict[str, Any], **extra: Any) -> Any:
    oneofs = extra.pop("oneofs", {})
    return type(name, (Message,), {"FIELDS": fields, "ONEOFS": oneofs, **extra})


_EMPTY_LIST, _EMPTY_MAP = list, dict

# -- values -----------------------------------------------------------------------------------

TYPED_DATA_FIELDS = (
    "string",
    "json",
    "bytes",
    "stream",
    "http",
    "int",
    "double",
    "collection_bytes",
    "collection_string",
    "collection_double",
    "collection_sint64",
    "model_binding_data",
    "collection_model_binding_data",
)
TypedData = _message(
    "TypedData", dict.fromkeys(TYPED_DATA_FIELDS), oneofs={"data": TYPED_DATA_FIELDS}
)
CollectionString = _message("CollectionString", {"string": _EMPTY_LIST})
CollectionBytes = _message("CollectionBytes", {"bytes": _EMPTY_LIST})
CollectionDouble = _message("CollectionDouble", {"double": _EMPTY_LIST})
CollectionSInt64 = _message("CollectionSInt64", {"sint64": _EMPTY_LIST})
RpcSharedMemory = _message("RpcSharedMemory", {"name": "", "offset": 0, "count": 0, "type": 0})
ParameterBinding = _message(
    "ParameterBinding",
    {"name": "", "data": None, "rpc_shared_memory": None},
    oneofs={"rpc_data": ("data", "rpc_shared_memory")},
)
Timestamp = _message("Timestamp", {"seconds": 0, "nanos": 0})
NullableString = _message("NullableString", {"value": ""})
NullableBool = _message("NullableBool", {"value": False})
NullableDouble = _message("NullableDouble", {"value": 0.0})
NullableTimestamp = _message("NullableTimestamp", {"value": None})


class _SameSite:
    Lax, Strict, ExplicitNone = 1, 2, 3


setattr(_SameSite, "None", 0)  # a Python keyword, as protobuf spells it

RpcHttpCookie = _message(
    "RpcHttpCookie",
    dict.fromkeys(
        (
            "name",
            "value",
            "domain",
            "path",
            "expires",
            "secure",
            "http_only",
            "same_site",
            "max_age",
        )
    ),
    SameSite=_SameSite,
)
RpcHttp = _message(
    "RpcHttp",
    {
        "method": "",
        "url": "",
        "headers": _EMPTY_MAP,
        "body": None,
        "params": _EMPTY_MAP,
        "status_code": "",
        "query": _EMPTY_MAP,
        "enable_content_negotiation": False,
        "raw_body": None,
        "identities": _EMPTY_LIST,
        "cookies": _EMPTY_LIST,
        "nullable_headers": _EMPTY_MAP,
        "nullable_params": _EMPTY_MAP,
        "nullable_query": _EMPTY_MAP,
    },
)

# -- results ----------------------------------------------------------------------------------

RpcException = _message(
    "RpcException",
    {"source": "", "stack_trace": "", "message": "", "is_user_exception": False, "type": ""},
)
StatusResult = _message(
    "StatusResult",
    {"status": 0, "result": "", "exception": None, "logs": _EMPTY_LIST},
    Failure=0,
    Success=1,
    Cancelled=2,
)
WorkerMetadata = _message(
    "WorkerMetadata",
    {
        "runtime_name": "",
        "runtime_version": "",
        "worker_version": "",
        "worker_bitness": "",
        "custom_properties": _EMPTY_MAP,
    },
)

# -- indexing and loading ---------------------------------------------------------------------

BindingInfo = _message(
    "BindingInfo",
    {"type": "", "direction": 0, "data_type": 0, "properties": _EMPTY_MAP},
    # Direction and DataType share one namespace in the generated class, as here.
    **{"in": 0, "out": 1, "inout": 2, "undefined": 0, "string": 1, "binary": 2, "stream": 3},
)
RpcRetryOptions = _message(
    "RpcRetryOptions",
    {
        "max_retry_count": 0,
        "delay_interval": None,
        "minimum_interval": None,
        "maximum_interval": None,
        "retry_strategy": 0,
    },
)
RpcFunctionMetadata = _message(
    "RpcFunctionMetadata",
    {
        "name": "",
        "directory": "",
        "script_file": "",
        "entry_point": "",
        "bindings": _EMPTY_MAP,
        "is_proxy": False,
        "status": None,
        "language": "",
        "raw_bindings": _EMPTY_LIST,
        "function_id": "",
        "managed_dependency_enabled": False,
        "retry_options": None,
        "properties": _EMPTY_MAP,
    },
)
WorkerInitRequest = _message(
    "WorkerInitRequest",
    {
        "host_version": "",
        "capabilities": _EMPTY_MAP,
        "log_categories": _EMPTY_MAP,
        "worker_directory": "",
        "function_app_directory": "",
    },
)
WorkerInitResponse = _message(
    "WorkerInitResponse",
    {"worker_version": "", "capabilities": _EMPTY_MAP, "result": None, "worker_metadata": None},
)
FunctionsMetadataRequest = _message("FunctionsMetadataRequest", {"function_app_directory": ""})
FunctionMetadataResponse = _message(
    "FunctionMetadataResponse",
    {
        "function_metadata_results": _EMPTY_LIST,
        "result": None,
        "use_default_metadata_indexing": False,
    },
)
FunctionLoadRequest = _message(
    "FunctionLoadRequest",
    {"function_id": "", "metadata": None, "managed_dependency_enabled": False},
)
FunctionLoadResponse = _message(
    "FunctionLoadResponse", {"function_id": "", "result": None, "is_dependency_downloaded": False}
)
FunctionEnvironmentReloadResponse = _message(
    "FunctionEnvironmentReloadResponse",
    {"capabilities": _EMPTY_MAP, "worker_metadata": None, "result": None},
)

# -- invocation -------------------------------------------------------------------------------

RpcTraceContext = _message(
    "RpcTraceContext", {"trace_parent": "", "trace_state": "", "attributes": _EMPTY_MAP}
)
RetryContext = _message("RetryContext", {"retry_count": 0, "max_retry_count": 0, "exception": None})
InvocationRequest = _message(
    "InvocationRequest",
    {
        "invocation_id": "",
        "function_id": "",
        "input_data": _EMPTY_LIST,
        "trigger_metadata": _EMPTY_MAP,
        "trace_context": RpcTraceContext,
        "retry_context": RetryContext,
    },
)
InvocationResponse = _message(
    "InvocationResponse",
    {"invocation_id": "", "output_data": _EMPTY_LIST, "return_value": None, "result": None},
)

# -- the envelope the runtime's handlers take -------------------------------------------------

_REQUESTS = (
    "worker_init_request",
    "functions_metadata_request",
    "function_load_request",
    "invocation_request",
)
StreamingMessage = _message(
    "StreamingMessage",
    {"request_id": "", **dict.fromkeys(_REQUESTS)},
    oneofs={"content": _REQUESTS},
)


class WorkerRequest:
    """What ``azure_functions_runtime``'s handlers receive: the message and the host's extras."""

    def __init__(self, message: Message, properties: dict[str, Any]) -> None:
        self.request = message
        self.properties = properties


def ok(response: Message) -> bool:
    """Whether a response's StatusResult says Success."""
    result = getattr(response, "result", None)
    return result is not None and bool(result.status == StatusResult.Success)
