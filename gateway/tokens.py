"""Admin API for an org's SCIM tokens: issue, list, revoke, expire, rotate.

    POST  /admin/orgs/{org}/tokens                 issue (the org is created if new)
    GET   /admin/orgs/{org}/tokens                 list, newest first
    POST  /admin/orgs/{org}/tokens/rotate          new token; the old one expires
    POST  /admin/orgs/{org}/tokens/{id}/revoke     revoke for good
    PATCH /admin/orgs/{org}/tokens/{id}            {"expires_at": ...} or
                                                   {"expires_in_seconds": ...}

A token's secret is in the answer that issues it and nowhere else. A revoked
or expired token is refused by every gateway replica within a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.admin import AdminChange, require_admin
from gateway.admin_json import (
    admin_response,
    expiry_of,
    iso,
    optional_object,
    seconds_field,
    text_field,
)
from gateway.identity_admin import IdentityAdmin
from services.common.errors import InvalidValue

router = APIRouter(
    prefix="/admin/orgs/{org}/tokens",
    tags=["Admin"],
    dependencies=[Depends(require_admin)],
)


def token_state(token: Any, *, now: datetime) -> str:
    """Say whether a token is `active`, `expired` or `revoked`."""
    if token.HasField("revoked_at"):
        return "revoked"
    if token.HasField("expires_at") and token.expires_at.ToDatetime(UTC) <= now:
        return "expired"
    return "active"


def token_json(token: Any) -> dict[str, Any]:
    """Render a token of the admin contract: never its secret or hash."""
    return {
        "token_id": token.token_id,
        "org_id": token.org_id,
        "org": token.org_name,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": iso(token, "created_at"),
        "last_used_at": iso(token, "last_used_at"),
        "expires_at": iso(token, "expires_at"),
        "revoked_at": iso(token, "revoked_at"),
        "state": token_state(token, now=datetime.now(UTC)),
    }


def issued_json(issued: Any) -> dict[str, Any]:
    """Render a new token with its secret, which is shown this once."""
    return {**token_json(issued.token), "token": issued.secret}


def _name(body: dict[str, Any]) -> str:
    # "description" is the field's name in the first version of this API.
    if "name" in body:
        return text_field(body, "name")
    return text_field(body, "description")


@router.post("", status_code=201)
async def issue_token(
    org: str, request: Request, admin: IdentityAdmin, change: AdminChange
) -> JSONResponse:
    """Issue a SCIM token for an org, creating the org when it is new.

    The body is optional: `{"name": "Okta production", "expires_at":
    "2027-01-01T00:00:00Z"}` (or `"expires_in_seconds"`). The token is in this
    answer only; the service keeps its hash.
    """
    body = await optional_object(request)
    _, expires_at = expiry_of(body)
    issued = await admin.issue_token(
        org_name=org,
        name=_name(body),
        expires_at=expires_at,
        create_org=True,
        admin=change,
    )
    return admin_response(issued_json(issued), status_code=201)


@router.get("")
async def list_tokens(org: str, admin: IdentityAdmin) -> JSONResponse:
    """List an org's tokens, newest first: name, prefix, use, expiry, revocation."""
    tokens = await admin.list_tokens(org_name=org)
    return admin_response({"tokens": [token_json(token) for token in tokens]})


@router.post("/rotate", status_code=201)
async def rotate_token(
    org: str, request: Request, admin: IdentityAdmin, change: AdminChange
) -> JSONResponse:
    """Issue a new token and let the old one work for `grace_seconds` more.

    `{"grace_seconds": 86400}`; `token_id` names the token to retire when the
    org holds several live ones, and `name` names the new one (the old name
    by default). The answer holds the new token, once, and the retired one.
    """
    body = await optional_object(request)
    grace = seconds_field(body, "grace_seconds")
    if grace is None:
        raise InvalidValue("grace_seconds is required; 0 ends the old token now")
    rotation = await admin.rotate_token(
        org_name=org,
        token_id=text_field(body, "token_id"),
        grace_seconds=grace,
        name=text_field(body, "name"),
        admin=change,
    )
    return admin_response(
        {**issued_json(rotation.issued), "retired": token_json(rotation.retired)},
        status_code=201,
    )


@router.post("/{token_id}/revoke")
async def revoke_token(
    org: str, token_id: str, admin: IdentityAdmin, change: AdminChange
) -> JSONResponse:
    """Revoke a token for good; every gateway refuses it within a second."""
    token = await admin.revoke_token(org_name=org, token_id=token_id, admin=change)
    return admin_response(token_json(token))


@router.patch("/{token_id}")
async def set_token_expiry(
    org: str,
    token_id: str,
    request: Request,
    admin: IdentityAdmin,
    change: AdminChange,
) -> JSONResponse:
    """Set when a token stops working.

    `{"expires_at": "2027-01-01T00:00:00Z"}`, `{"expires_at": null}` for
    never, or `{"expires_in_seconds": 3600}`. A time in the past ends the
    token now; unlike a revocation, an expiry can be moved later again.
    """
    given, expires_at = expiry_of(await optional_object(request))
    if not given:
        raise InvalidValue("send expires_at (a time or null) or expires_in_seconds")
    token = await admin.set_token_expiry(
        org_name=org, token_id=token_id, expires_at=expires_at, admin=change
    )
    return admin_response(token_json(token))
