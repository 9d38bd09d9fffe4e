"""One log format for every process of the stack.

Each line carries a UTC timestamp, the level, the logger, the message, the
service name and the request and trace ids. Callers pass the ids they know in
`extra`; a missing trace id is taken from the current span.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from opentelemetry import trace

_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s %(message)s "
    "service=%(service)s request_id=%(request_id)s trace_id=%(trace_id)s"
)
_MISSING = "-"


class _UtcFormatter(logging.Formatter):
    """Format times as ISO 8601 in UTC with milliseconds."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class _ContextFilter(logging.Filter):
    """Give every record the fields the format prints."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self._service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service_name
        if not hasattr(record, "request_id"):
            record.request_id = _MISSING
        if not hasattr(record, "trace_id"):
            record.trace_id = _current_trace_id()
        return True


class _StackHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs; found again by its type."""


def _current_trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return _MISSING
    return trace.format_trace_id(context.trace_id)


def configure_logging(service_name: str, *, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr in the stack's one format.

    Calling it again replaces the handler it installed before.
    """
    handler = _StackHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter(_FORMAT))
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
