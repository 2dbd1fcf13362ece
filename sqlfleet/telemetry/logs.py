"""Log records of SQL Fleet as telemetry sends them: with the trace and span ids of the
execution they belong to, and with secrets redacted (``sqlfleet.redaction``)."""

from __future__ import annotations

import logging
from typing import Any

from sqlfleet.redaction import redact


class CorrelatedRecords(logging.Filter):
    """Redacts a record's message and adds ``trace_id``/``span_id`` (hex) of the span it was
    written under, when there is one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep what was given
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = f"{context.trace_id:032x}"
            record.span_id = f"{context.span_id:016x}"
        return True


# Python logging levels to OpenTelemetry severity numbers (the logs data model's table).
_SEVERITIES = ((logging.CRITICAL, 21), (logging.ERROR, 17), (logging.WARNING, 13),
               (logging.INFO, 9), (logging.DEBUG, 5))  # fmt: skip
# LogRecord attributes that are not the caller's ``extra``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class OtelLogHandler(logging.Handler):
    """Writes ``sqlfleet`` log records to an OpenTelemetry logger provider: the redacted
    message, severity, source, the caller's ``extra`` as attributes, and the current span's
    context (set by ``sqlfleet.telemetry.joined``), which correlates them with the trace."""

    def __init__(self, provider: Any) -> None:
        super().__init__()
        self._logger = provider.get_logger("sqlfleet")
        self.addFilter(CorrelatedRecords())

    def emit(self, record: logging.LogRecord) -> None:
        from opentelemetry import context
        from opentelemetry._logs import LogRecord, SeverityNumber

        try:
            number = next(n for level, n in _SEVERITIES if record.levelno >= level)
        except StopIteration:
            number = 1
        attributes: dict[str, Any] = {
            "code.function.name": record.funcName,
            "code.file.path": record.pathname,
            "code.line.number": record.lineno,
            "logger.name": record.name,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in ("trace_id", "span_id"):
                attributes[key] = (
                    value if isinstance(value, (str, int, float, bool)) else str(value)
                )
        self._logger.emit(
            LogRecord(
                timestamp=int(record.created * 1_000_000_000),
                context=context.get_current(),
                severity_text=record.levelname,
                severity_number=SeverityNumber(number),
                body=record.getMessage(),
                attributes=redact(attributes),
            )
        )
