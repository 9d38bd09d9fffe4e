"""The admin web page of the error log, server-rendered under `/admin/ui`.

    /admin/ui/login                  paste an admin credential; /logout forgets it
    /admin/ui/errors                 the error log, filtered and paged
    /admin/ui/errors/{id}            one error, its operation and history; Retry
    /admin/ui/client-errors          the 4xx answers identity providers got

Nothing is fetched from elsewhere: the styles are inline and there is no
script. Every page checks the credential cookie as the admin API checks a
bearer credential; every form that changes something carries a CSRF token and
answers with a redirect (POST/redirect/GET).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gateway.admin_ui_session import (
    LOGIN_PATH,
    UI_PATH,
    CookieSeal,
    CsrfKey,
    CsrfRefused,
    LoginRequired,
    UiAdmin,
    authenticate,
    cookie_credential,
    forget_credential,
    has_cookie,
    keep_credential,
    login_nonce,
    start_login,
)
from gateway.body import read_body
from gateway.context import request_id
from gateway.error_tracker import (
    ErrorTracker,
    ErrorTrackerClient,
    kind_words,
    state_words,
)
from gateway.error_views import (
    DEFAULT_LIMIT,
    actor_of,
    attempt_json,
    client_error_filter,
    client_error_json,
    error_filter,
    error_json,
    org_id_of,
    org_names,
)
from gateway.identity import Identity
from gateway.identity_admin import IdentityAdmin
from services.common.errors import InvalidValue, ScimError, Unauthorized

logger = logging.getLogger(__name__)

MAX_FORM_BYTES = 8192
# No script, no frame, no resource from anywhere else; forms post here only.
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
    )
)
_SECTIONS = {
    "errors.html": "errors",
    "error.html": "errors",
    "client_errors.html": "client",
}
router = APIRouter(prefix=UI_PATH, include_in_schema=False)
# Query values are bounded by the pages themselves, so that a browser gets the
# page with its message rather than the API's JSON error.
Text = Annotated[str, Query()]
MAX_FILTER_LENGTH = 128
MAX_PAGE_TOKEN_LENGTH = 512
# What the Retry button's redirect may say of the error.
_RETRY_OUTCOMES = frozenset([*state_words(), "not_found"])


def short_time(value: str | None) -> str:
    """Show an RFC 3339 time to the second: 2026-12-04 16:57:54Z."""
    if not value:
        return "-"
    if len(value) >= 20 and value[10] == "T":
        return f"{value[:10]} {value[11:19]}Z"
    return value


templates.env.filters["short_time"] = short_time


def page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render a page with the CSRF token of the credential that asks for it."""
    csrf: CsrfKey = request.app.state.csrf_key
    credential = cookie_credential(request)
    defaults = {"caller": None, "section": _SECTIONS.get(name, "")}
    return templates.TemplateResponse(
        request,
        name,
        {
            **defaults,
            **context,
            "csrf": csrf.token_for(credential) if credential else "",
        },
        status_code=status_code,
        headers=_HEADERS,
    )


async def form_of(request: Request) -> dict[str, str]:
    """Return the fields of a small url-encoded form; the first of each name.

    A body over `MAX_FORM_BYTES` is refused (413) before it is read whole:
    the login form takes it from anyone.
    """
    raw = await read_body(request, limit=MAX_FORM_BYTES)
    fields = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


async def checked_form(request: Request) -> dict[str, str]:
    """Return a form's fields once its CSRF token is the sender's."""
    fields = await form_of(request)
    csrf: CsrfKey = request.app.state.csrf_key
    csrf.check(cookie_credential(request), fields.get("csrf", ""))
    return fields


def _ui_moment(value: str) -> str:
    """Read a time from a form as UTC: `datetime-local` inputs have no offset."""
    value = value.strip()
    if value and not (value.endswith("Z") or "+" in value[10:] or "-" in value[10:]):
        return f"{value}Z" if len(value) > 16 else f"{value}:00Z"
    return value


@router.get("")
async def home() -> RedirectResponse:
    """Open the error log."""
    return RedirectResponse(f"{UI_PATH}/errors", status_code=303)


def login_page(request: Request, *, message: str, status_code: int) -> HTMLResponse:
    """Render the login form with a CSRF token bound to the browser's login cookie."""
    csrf: CsrfKey = request.app.state.csrf_key
    nonce = login_nonce(request) or secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        {"message": message, "login_csrf": csrf.login_token_for(nonce)},
        status_code=status_code,
    )
    start_login(response, request, nonce)
    return response


@router.get("/login")
async def show_login(request: Request) -> HTMLResponse:
    """Show the login form."""
    return login_page(request, message="", status_code=200)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the pasted credential; keep it, sealed, in a cookie for the admin pages."""
    fields = await form_of(request)
    csrf: CsrfKey = request.app.state.csrf_key
    try:
        csrf.check_login(login_nonce(request), fields.get("csrf", ""))
    except CsrfRefused:
        logger.warning(
            "admin page login refused: the form did not come from the login page",
            extra={"request_id": request_id(request)},
        )
        return login_page(
            request,
            message="The form expired or did not come from this page; try again.",
            status_code=403,
        )
    credential = fields.get("credential", "").strip()
    try:
        await authenticate(request, credential)
    except Unauthorized:
        logger.warning(
            "admin page login refused", extra={"request_id": request_id(request)}
        )
        return login_page(
            request,
            message="That is not a working admin credential.",
            status_code=401,
        )
    response = RedirectResponse(f"{UI_PATH}/errors", status_code=303)
    keep_credential(response, request, credential)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Forget the credential cookie."""
    await checked_form(request)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    forget_credential(response, request)
    return response


@router.get("/errors")
async def errors_page(
    request: Request,
    caller: UiAdmin,
    identity: Identity,
    admin: IdentityAdmin,
    tracker: ErrorTracker,
    org: Text = "",
    kind: Text = "",
    state: Text = "",
    since: Text = "",
    until: Text = "",
    page_token: Text = "",
) -> HTMLResponse:
    """Show the error log with its filters."""
    filters = {
        "org": org,
        "kind": kind,
        "state": state,
        "since": since,
        "until": until,
    }
    context: dict[str, Any] = {
        "caller": caller,
        "filters": filters,
        "kinds": kind_words(),
        "states": state_words(),
        "errors": [],
        "next_url": "",
        "message": "",
    }
    try:
        _check_lengths(filters, page_token=page_token)
        query = error_filter(
            org_id=await org_id_of(identity, org),
            kind=kind,
            state=state,
            since=_ui_moment(since),
            until=_ui_moment(until),
            limit=DEFAULT_LIMIT,
            page_token=page_token,
        )
        reply = await tracker.list_errors(query)
    except ScimError as error:
        context["message"] = error.detail
        return page(request, "errors.html", context, status_code=error.status)
    names = await org_names(admin)
    context["errors"] = [error_json(record, names) for record in reply.errors]
    if reply.next_page_token:
        context["next_url"] = _url(
            "/errors", {**filters, "page_token": reply.next_page_token}
        )
    context["first_url"] = _url("/errors", filters) if page_token else ""
    return page(request, "errors.html", context)


@router.get("/errors/{error_id}")
async def error_page(
    request: Request,
    error_id: str,
    caller: UiAdmin,
    admin: IdentityAdmin,
    tracker: ErrorTracker,
    retried: Text = "",
) -> HTMLResponse:
    """Show one error: every field, its operation, its history; a Retry button."""
    try:
        reply = await tracker.get_error(error_id=error_id)
    except ScimError as error:
        return page(
            request,
            "message.html",
            {"caller": caller, "title": "Error not found", "message": error.detail},
            status_code=error.status,
        )
    names = await org_names(admin)
    context = {
        "caller": caller,
        "error": error_json(reply.error, names),
        "history": [attempt_json(attempt) for attempt in reply.attempts],
        # Only an outcome the redirect gives is shown: a link cannot make
        # the page say something else of the error.
        "retried": retried if retried in _RETRY_OUTCOMES else "",
    }
    return page(request, "error.html", context)


@router.post("/errors/{error_id}/retry")
async def retry(
    request: Request, error_id: str, caller: UiAdmin, tracker: ErrorTracker
) -> Response:
    """Replay an error's operation, then show the error again."""
    await checked_form(request)
    try:
        outcome = await _retry(
            tracker, request, error_id=error_id, actor=actor_of(caller)
        )
    except ScimError as error:
        # A browser gets a page saying so, not the API's JSON error.
        return page(
            request,
            "message.html",
            {"caller": caller, "title": "Retry not done", "message": error.detail},
            status_code=error.status,
        )
    # The id is the path's, decoded: a "?" or "#" in it must stay in the path.
    return RedirectResponse(
        _url(f"/errors/{quote(error_id, safe='')}", {"retried": outcome}),
        status_code=303,
    )


async def _retry(
    tracker: ErrorTrackerClient, request: Request, *, error_id: str, actor: str
) -> str:
    results = await tracker.retry_errors(
        error_ids=[error_id], actor=actor, request_id=request_id(request)
    )
    if not results or not results[0].found:
        return "not_found"
    return str(error_json(results[0].error, {})["state"])


@router.get("/client-errors")
async def client_errors_page(
    request: Request,
    caller: UiAdmin,
    identity: Identity,
    admin: IdentityAdmin,
    tracker: ErrorTracker,
    org: Text = "",
    status: Text = "",
    scim_type: Text = "",
    since: Text = "",
    until: Text = "",
    page_token: Text = "",
) -> HTMLResponse:
    """Show the 4xx answers identity providers got, with their filters."""
    filters = {
        "org": org,
        "status": status,
        "scim_type": scim_type,
        "since": since,
        "until": until,
    }
    context: dict[str, Any] = {
        "caller": caller,
        "filters": filters,
        "client_errors": [],
        "next_url": "",
        "first_url": "",
        "message": "",
    }
    try:
        _check_lengths(filters, page_token=page_token)
        query = client_error_filter(
            org_id=await org_id_of(identity, org),
            status=_status(status),
            scim_type=scim_type,
            since=_ui_moment(since),
            until=_ui_moment(until),
            limit=DEFAULT_LIMIT,
            page_token=page_token,
        )
        reply = await tracker.list_client_errors(query)
    except ScimError as error:
        context["message"] = error.detail
        return page(request, "client_errors.html", context, status_code=error.status)
    names = await org_names(admin)
    context["client_errors"] = [client_error_json(item, names) for item in reply.errors]
    if reply.next_page_token:
        context["next_url"] = _url(
            "/client-errors", {**filters, "page_token": reply.next_page_token}
        )
    context["first_url"] = _url("/client-errors", filters) if page_token else ""
    return page(request, "client_errors.html", context)


def _check_lengths(filters: dict[str, str], *, page_token: str) -> None:
    for name, value in filters.items():
        if len(value) > MAX_FILTER_LENGTH:
            raise InvalidValue(f"{name} must be at most {MAX_FILTER_LENGTH} characters")
    if len(page_token) > MAX_PAGE_TOKEN_LENGTH:
        raise InvalidValue("the page token is not one this service gave")


def _status(text: str) -> int:
    text = text.strip()
    if not text:
        return 0
    # isdigit() also holds for "²" and other digits int() refuses.
    if not (text.isascii() and text.isdigit()) or len(text) > 3:
        raise InvalidValue("status must be a number such as 409")
    return int(text)


def _url(path: str, query: dict[str, str]) -> str:
    kept = {name: value for name, value in query.items() if value}
    return f"{UI_PATH}{path}" + (f"?{urlencode(kept)}" if kept else "")


async def _on_login_required(request: Request, exc: Exception) -> Response:
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    # A cookie that no longer works is dropped rather than sent again.
    if has_cookie(request):
        forget_credential(response, request)
    return response


async def _on_csrf_refused(request: Request, exc: Exception) -> Response:
    logger.warning(
        "admin page form refused: bad CSRF token",
        extra={"request_id": request_id(request)},
    )
    return page(
        request,
        "message.html",
        {
            "caller": None,
            "title": "Form refused",
            "message": "The form expired or did not come from this page; "
            "go back, reload and try again.",
        },
        status_code=403,
    )


def install_admin_ui(app: FastAPI, *, bootstrap_token: str) -> None:
    """Serve the admin pages on `app`, their CSRF key drawn from `bootstrap_token`."""
    app.state.csrf_key = CsrfKey.of_deployment(bootstrap_token)
    app.state.cookie_seal = CookieSeal.of_deployment(bootstrap_token)
    app.add_exception_handler(LoginRequired, _on_login_required)
    app.add_exception_handler(CsrfRefused, _on_csrf_refused)
    app.include_router(router)
