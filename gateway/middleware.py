"""Per-request bookkeeping: request id, receipt time, one log line, catch-all.

Each request is logged once at info with method, path, status, org and
duration (never a header, query string or body), counted in the gateway's
Prometheus series, and its span labelled with the SCIM resource it touched.
An exception nothing else handled is logged once here with its traceback and
answered with a generic SCIM 500.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from opentelemetry import trace
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.context import REQUEST_ID_HEADER, request_id_from
from gateway.errors import InternalError, scim_error_response
from gateway.observed import observe_request, request_facts

logger = logging.getLogger(__name__)


class RequestLogMiddleware:
    """Give each HTTP request an id and a receipt time, and log it once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        method, path = scope["method"], _loggable_path(scope)
        request_id = request_id_from(Headers(scope=scope).get(REQUEST_ID_HEADER))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["received_at"] = datetime.now(UTC)
        span = trace.get_current_span()
        span.set_attribute("rivane.request_id", request_id)

        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                # Routing has run by now; the span ends with the response.
                span.set_attributes(request_facts(scope, method).span_attributes())
                if "org_id" in state:
                    span.set_attribute("rivane.org_id", str(state["org_id"]))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error in %s %s",
                method,
                path,
                extra={"request_id": request_id},
            )
            if not response_started:
                response = scim_error_response(InternalError("internal server error"))
                await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            org = str(state.get("org_id", "-"))
            observe_request(
                method=method,
                facts=request_facts(scope, method),
                org=org,
                status=status,
                seconds=seconds,
            )
            logger.info(
                "%s %s %d org=%s duration_ms=%.1f",
                method,
                path,
                status,
                org,
                seconds * 1000,
                extra={"request_id": request_id, "org": org},
            )


class TrailingSlashMiddleware:
    """Serve `/Users/` as `/Users` and `/Users/{id}/` as `/Users/{id}`.

    The framework would answer them with a redirect instead: a body-less 307
    whose Location is built from the Host header the client sent, which IdPs
    do not follow with the POST body, and which names the internal address
    behind a proxy.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def _loggable_path(scope: Scope) -> str:
    """Return the path as sent, still percent-encoded: one line, no query."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw.partition(b"?")[0].decode("ascii", errors="replace")
    return str(scope["path"]).encode("unicode_escape").decode("ascii")
