"""Log records of SQL Fleet as telemetry sends them: with the trace and span ids of the
execution they belong to, and with secrets redacted (``sqlfleet.redaction``)."""

from __future__ import annotations

import logging

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
