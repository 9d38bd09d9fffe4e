"""Admin API of the provisioning error log and the client-error stream.

    GET  /admin/errors?org=&kind=&state=&since=&until=&limit=&page_token=
    GET  /admin/errors/{error_id}              one error and its attempts
    POST /admin/errors/{error_id}/retry        replay it now
    POST /admin/errors/retry  {"ids": [...]}   replay many (at most 500)
    GET  /admin/client-errors?org=&status=&scim_type=&since=&until=&limit=&page_token=

Orgs are named by name, kinds and states by lower-case word
(`unmapped_group`, `open`). Each retry is recorded in the error's history
with the admin credential that asked.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from gateway.admin import Admin, require_admin
from gateway.admin_json import admin_response, optional_object
from gateway.context import request_id
from gateway.error_tracker import MAX_RETRY_IDS, ErrorTracker
from gateway.error_views import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    actor_of,
    attempt_json,
    client_error_filter,
    client_error_json,
    error_filter,
    error_json,
    org_id_of,
    org_names,
    retry_json,
)
from gateway.identity import Identity
from gateway.identity_admin import IdentityAdmin
from services.common.errors import InvalidValue, NotFound

router = APIRouter(tags=["Admin"], dependencies=[Depends(require_admin)])

Text = Annotated[str, Query(max_length=128)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Token = Annotated[str, Query(max_length=512)]


@router.get("/admin/errors")
async def list_errors(
    identity: Identity,
    admin: IdentityAdmin,
    tracker: ErrorTracker,
    org: Text = "",
    kind: Text = "",
    state: Text = "",
    since: Text = "",
    until: Text = "",
    limit: Limit = DEFAULT_LIMIT,
    page_token: Token = "",
) -> JSONResponse:
    """List provisioning errors, newest first (by last seen), filtered and paged.

    `kind` is one of `event_not_published`, `revocation_failed`,
    `unmapped_group`, `downstream_call_failed`, `bulk_operation_failed`;
    `state` one of `open`, `retrying`, `resolved`, `failed`; `since` and
    `until` (RFC 3339) bound the last time each error was seen. Pass
    `next_page_token` back as `page_token` for the next page.
    """
    query = error_filter(
        org_id=await org_id_of(identity, org),
        kind=kind,
        state=state,
        since=since,
        until=until,
        limit=limit,
        page_token=page_token,
    )
    reply = await tracker.list_errors(query)
    names = await org_names(admin)
    return admin_response(
        {
            "errors": [error_json(record, names) for record in reply.errors],
            "next_page_token": reply.next_page_token or None,
        }
    )


@router.post("/admin/errors/retry")
async def retry_errors(
    request: Request, caller: Admin, admin: IdentityAdmin, tracker: ErrorTracker
) -> JSONResponse:
    """Retry many errors at once: `{"ids": [...]}`, at most 500.

    Each id is answered with the error after its attempt, or `found: false`.
    """
    body = await optional_object(request)
    ids = body.get("ids")
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(item, str) and item for item in ids)
    ):
        raise InvalidValue("'ids' must be a non-empty list of error ids")
    if len(ids) > MAX_RETRY_IDS:
        raise InvalidValue(f"retry at most {MAX_RETRY_IDS} errors at once")
    # An id sent twice is retried and answered once, in its first place.
    unique = list(dict.fromkeys(ids))
    results = await tracker.retry_errors(
        error_ids=unique, actor=actor_of(caller), request_id=request_id(request)
    )
    names = await org_names(admin)
    return admin_response({"results": [retry_json(item, names) for item in results]})


@router.get("/admin/errors/{error_id}")
async def get_error(
    error_id: str, admin: IdentityAdmin, tracker: ErrorTracker
) -> JSONResponse:
    """Show one error with the history of its attempts, oldest first."""
    reply = await tracker.get_error(error_id=error_id)
    names = await org_names(admin)
    return admin_response(
        {
            **error_json(reply.error, names),
            "history": [attempt_json(attempt) for attempt in reply.attempts],
        }
    )


@router.post("/admin/errors/{error_id}/retry")
async def retry_error(
    error_id: str,
    request: Request,
    caller: Admin,
    admin: IdentityAdmin,
    tracker: ErrorTracker,
) -> JSONResponse:
    """Replay one error's operation now; answer the error after the attempt.

    An error already resolved is answered as it is.
    """
    results = await tracker.retry_errors(
        error_ids=[error_id], actor=actor_of(caller), request_id=request_id(request)
    )
    if not results or not results[0].found:
        raise NotFound(f"error {error_id} not found")
    return admin_response(retry_json(results[0], await org_names(admin)))


@router.get("/admin/client-errors")
async def list_client_errors(
    identity: Identity,
    admin: IdentityAdmin,
    tracker: ErrorTracker,
    org: Text = "",
    status: Annotated[int, Query(ge=0, le=499)] = 0,
    scim_type: Text = "",
    since: Text = "",
    until: Text = "",
    limit: Limit = DEFAULT_LIMIT,
    page_token: Token = "",
) -> JSONResponse:
    """List the 4xx answers identity providers got, newest first.

    These are kept for reading, not retried: the identity provider resends.
    Filter by org name, `status` (e.g. 409), `scim_type` (e.g. `uniqueness`)
    and time; no request body or header is ever kept.
    """
    query = client_error_filter(
        org_id=await org_id_of(identity, org),
        status=status,
        scim_type=scim_type,
        since=since,
        until=until,
        limit=limit,
        page_token=page_token,
    )
    reply = await tracker.list_client_errors(query)
    names = await org_names(admin)
    body: dict[str, Any] = {
        "client_errors": [client_error_json(item, names) for item in reply.errors],
        "next_page_token": reply.next_page_token or None,
    }
    return admin_response(body)
