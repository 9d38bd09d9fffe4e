"""Admin API for its own credentials: issue, list, revoke.

    POST /admin/credentials                {"name": "ops on-call"}
    GET  /admin/credentials
    POST /admin/credentials/{id}/revoke

An issued credential (`rvn_admin_...`) opens the admin API like the bootstrap
one; its secret is in the answer that issues it and nowhere else, and a
revocation takes effect on the next request.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.admin import AdminChange, require_admin
from gateway.admin_json import admin_response, iso, optional_object, text_field
from gateway.identity_admin import IdentityAdmin

router = APIRouter(
    prefix="/admin/credentials",
    tags=["Admin"],
    dependencies=[Depends(require_admin)],
)


def credential_json(credential: Any) -> dict[str, Any]:
    """Render an admin credential: never its secret or hash."""
    return {
        "credential_id": credential.credential_id,
        "name": credential.name,
        "kind": credential.kind,
        "prefix": credential.prefix,
        "created_at": iso(credential, "created_at"),
        "last_used_at": iso(credential, "last_used_at"),
        "revoked_at": iso(credential, "revoked_at"),
    }


@router.post("", status_code=201)
async def create_credential(
    request: Request, admin: IdentityAdmin, change: AdminChange
) -> JSONResponse:
    """Issue an admin credential: `{"name": ...}`; the secret is shown once."""
    body = await optional_object(request)
    issued = await admin.create_admin_credential(
        name=text_field(body, "name"), admin=change
    )
    return admin_response(
        {**credential_json(issued.credential), "token": issued.secret},
        status_code=201,
    )


@router.get("")
async def list_credentials(admin: IdentityAdmin) -> JSONResponse:
    """List every admin credential, the bootstrap one included."""
    credentials = await admin.list_admin_credentials()
    return admin_response({"credentials": [credential_json(c) for c in credentials]})


@router.post("/{credential_id}/revoke")
async def revoke_credential(
    credential_id: str, admin: IdentityAdmin, change: AdminChange
) -> JSONResponse:
    """Revoke an issued admin credential; the bootstrap one is configured instead."""
    credential = await admin.revoke_admin_credential(
        credential_id=credential_id, admin=change
    )
    return admin_response(credential_json(credential))
