"""Every process logs one JSON object a line, with the request's ids."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from opentelemetry import trace

from services.common.logging import configure_logging
from services.common.settings import get_settings
from services.common.telemetry import configure_tracing


@pytest.fixture
def stack_logging() -> Iterator[None]:
    """Restore the root logger's handlers and level after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    get_settings.cache_clear()


def _last_lines(capsys: pytest.CaptureFixture[str], count: int) -> list[str]:
    return capsys.readouterr().err.splitlines()[-count:]


@pytest.mark.usefixtures("stack_logging")
def test_log_line_is_json_with_time_level_logger_and_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("gateway-test")

    logging.getLogger("gateway.example").info(
        "hello %s", "world", extra={"request_id": "req-1", "org": "org-1"}
    )
    logging.getLogger("gateway.example").info("no ids")

    first, second = (json.loads(line) for line in _last_lines(capsys, 2))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first.pop("time"))
    assert first == {
        "level": "INFO",
        "logger": "gateway.example",
        "message": "hello world",
        "service": "gateway-test",
        "request_id": "req-1",
        "org": "org-1",
    }
    assert "request_id" not in second and "trace_id" not in second


@pytest.mark.usefixtures("stack_logging")
def test_an_org_passed_as_org_id_is_the_lines_org(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("identity-test")

    logging.getLogger("services.identity.users").info(
        "user changed", extra={"org_id": "org-7", "request_id": "req-2"}
    )

    (line,) = (json.loads(text) for text in _last_lines(capsys, 1))
    assert (line["org"], line["request_id"]) == ("org-7", "req-2")


@pytest.mark.usefixtures("stack_logging")
def test_log_line_inside_a_span_carries_its_trace_and_span_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_tracing("gateway-test")
    configure_logging("gateway-test")

    with trace.get_tracer("test").start_as_current_span("handle request") as span:
        logging.getLogger("gateway.example").warning("inside")
        ids = span.get_span_context()

    [line] = (json.loads(line) for line in _last_lines(capsys, 1))
    assert line["trace_id"] == trace.format_trace_id(ids.trace_id)
    assert line["span_id"] == trace.format_span_id(ids.span_id)


@pytest.mark.usefixtures("stack_logging")
def test_a_traceback_stays_inside_its_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("gateway-test")

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("gateway.example").exception("failed")

    [line] = (json.loads(line) for line in _last_lines(capsys, 1))
    assert line["message"] == "failed"
    assert "RuntimeError: boom" in line["exception"]


@pytest.mark.usefixtures("stack_logging")
def test_text_format_is_one_readable_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVANE_LOG_FORMAT", "text")
    get_settings.cache_clear()
    configure_logging("gateway-test")

    logging.getLogger("gateway.example").info("hello", extra={"request_id": "req-1"})

    [line] = _last_lines(capsys, 1)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO gateway\.example hello "
        r"service=gateway-test request_id=req-1 trace_id=-",
        line,
    )
