"""One log format for every process of the stack.

By default each record is one JSON object on one line: UTC time, level,
logger, message, service, and the request id, org, trace id and span id of
the request it belongs to. `RIVANE_LOG_FORMAT=text` prints the same fields as
one readable line for a terminal. Callers pass the ids they know in `extra`
(`request_id`, and `org` or `org_id`); a missing trace or span id is taken
from the current span.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from opentelemetry import trace

from services.common.settings import get_settings

_TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s %(message)s "
    "service=%(service)s request_id=%(request_id)s trace_id=%(trace_id)s"
)
_MISSING = "-"
# The fields a record carries besides its message, in the order they print.
_CONTEXT_FIELDS = ("service", "request_id", "org", "trace_id", "span_id")


def _utc_time(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class _TextFormatter(logging.Formatter):
    """Format times as ISO 8601 in UTC with milliseconds."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_time(record)


class _JsonFormatter(logging.Formatter):
    """Format a record as one JSON object; a traceback becomes one field."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, _MISSING)
            if value != _MISSING:
                line[name] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _ContextFilter(logging.Filter):
    """Give every record the fields the formats print."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self._service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service_name
        # Callers that hold the org's id pass it as `org_id`: the same field.
        org_id = getattr(record, "org_id", None)
        if org_id is not None and not hasattr(record, "org"):
            record.org = org_id
        for name in ("request_id", "org"):
            if not hasattr(record, name):
                setattr(record, name, _MISSING)
        if not hasattr(record, "trace_id"):
            record.trace_id, record.span_id = _current_span_ids()
        elif not hasattr(record, "span_id"):
            record.span_id = _MISSING
        return True


class _StackHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs; found again by its type."""


def _current_span_ids() -> tuple[str, str]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return _MISSING, _MISSING
    return trace.format_trace_id(context.trace_id), trace.format_span_id(
        context.span_id
    )


def configure_logging(service_name: str, *, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr in the stack's one format.

    The format is `settings.log_format`. Calling it again replaces the
    handler it installed before.
    """
    handler = _StackHandler(sys.stderr)
    if get_settings().log_format == "text":
        handler.setFormatter(_TextFormatter(_TEXT_FORMAT))
    else:
        handler.setFormatter(_JsonFormatter())
    handler.addFilter(_ContextFilter(service_name))

    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _StackHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)

    # aiokafka logs each failed connection attempt at ERROR, dozens a second
    # while a broker is away. The relay and the consumers report Kafka
    # reachability themselves, once per retry, at WARNING with what happens
    # next; aiokafka keeps only its critical records.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
