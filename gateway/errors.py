"""SCIM Error responses (RFC 7644 §3.12), rendered in exactly one place.

Domain errors arrive as `ScimError`s, the ones a service raised rebuilt from
gRPC trailers by the identity client. Routing and validation failures of the
web framework are translated here too, so a client never sees HTML or a
framework-shaped body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from gateway import urns
from gateway.responses import ScimResponse
from services.common.errors import ScimError

# RFC 6750 §3: a 401 names the scheme the client should use.
WWW_AUTHENTICATE = 'Bearer realm="scim"'
# The methods a 405's Allow header may name.
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class UnsupportedMediaType(ScimError):
    """The body is not JSON in UTF-8 (RFC 7644 §3.1, §8.1)."""

    status = 415


class ContentTooLarge(ScimError):
    """The body is bigger than any SCIM request we serve."""

    status = 413


class ServiceUnavailable(ScimError):
    """A service behind the gateway cannot answer now; the client may retry."""

    status = 503


class TooManyRequests(ScimError):
    """The caller has used its requests for now (RFC 6585 §4)."""

    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class NotImplementedOperation(ScimError):
    """The request names an operation this service provider does not offer."""

    status = 501


class InternalError(ScimError):
    """Something failed that the client cannot fix; details stay in the log."""

    status = 500


def error_body(*, status: int, detail: str, scim_type: str | None) -> dict[str, Any]:
    """Return the JSON of a SCIM Error (RFC 7644 §3.12)."""
    body: dict[str, Any] = {"schemas": [urns.ERROR], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return body


def error_response(
    *,
    status: int,
    detail: str,
    scim_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ScimResponse:
    """Render a SCIM Error; every error the gateway answers goes through here."""
    body = error_body(status=status, detail=detail, scim_type=scim_type)
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return ScimResponse(body, status_code=status, headers=all_headers)


def scim_error_response(error: ScimError) -> ScimResponse:
    """Render a `ScimError`."""
    headers = {}
    if isinstance(error, TooManyRequests):
        # RFC 9110 §10.2.3: whole seconds.
        headers["Retry-After"] = str(error.retry_after)
    return error_response(
        status=error.status,
        detail=error.detail,
        scim_type=error.scim_type,
        headers=headers,
    )


async def _on_scim_error(request: Request, exc: Exception) -> ScimResponse:
    assert isinstance(exc, ScimError)
    _note(request, status=exc.status, scim_type=exc.scim_type, detail=exc.detail)
    return scim_error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> ScimResponse:
    # Unknown paths (404), wrong methods (405, with Allow) and bodies over the
    # size limit (413) come from the framework as HTTPException.
    assert isinstance(exc, HTTPException)
    _note(request, status=exc.status_code, scim_type=None, detail=str(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(
        status=exc.status_code, detail=str(exc.detail), headers=headers
    )


def _allowed_methods(request: Request) -> str:
    """Return the methods some route serves at the request's path.

    RFC 9110 §15.5.6: a 405 lists all the methods the resource supports. The
    framework names those of the first route the path matched only, so
    /Users answered "Allow: POST" while it serves GET too.
    """
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(
            route.matches(scope)[0] == Match.FULL for route in request.app.router.routes
        ):
            allowed.append(method)
    return ", ".join(allowed)


async def _on_validation_error(request: Request, exc: Exception) -> ScimResponse:
    assert isinstance(exc, RequestValidationError)
    detail = _validation_detail(exc.errors())
    _note(request, status=400, scim_type="invalidValue", detail=detail)
    return error_response(status=400, detail=detail, scim_type="invalidValue")


def _note(request: Request, *, status: int, scim_type: str | None, detail: str) -> None:
    """Hand the answer to the client-error stream the app runs, if any."""
    stream = getattr(request.app.state, "client_errors", None)
    if stream is not None:
        stream.note_answer(request, status=status, scim_type=scim_type, detail=detail)


def _validation_detail(errors: Sequence[Any]) -> str:
    """Say which parameters were wrong, without echoing the values sent."""
    parts = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Make `app` answer every handled failure with a SCIM Error."""
    app.add_exception_handler(ScimError, _on_scim_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
