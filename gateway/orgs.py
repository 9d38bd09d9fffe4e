"""Admin API for orgs: create one, list them all.

    POST /admin/orgs     {"name": "acme"}     201, or 409 when the name is taken
    GET  /admin/orgs                          every org, with its live tokens

An org name is 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting
with a letter or a digit; any other name is a 400, on every admin route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.admin import AdminChange, require_admin
from gateway.admin_json import admin_response, iso, optional_object, text_field
from gateway.identity_admin import IdentityAdmin

router = APIRouter(
    prefix="/admin/orgs", tags=["Admin"], dependencies=[Depends(require_admin)]
)


def org_json(org: Any) -> dict[str, Any]:
    """Render an org of the admin contract."""
    return {
        "org_id": org.org_id,
        "name": org.name,
        "created_at": iso(org, "created_at"),
        "live_tokens": org.live_tokens,
    }


@router.post("", status_code=201)
async def create_org(
    request: Request, admin: IdentityAdmin, change: AdminChange
) -> JSONResponse:
    """Create an org: `{"name": "acme"}`. A taken name is a 409."""
    body = await optional_object(request)
    org = await admin.create_org(name=text_field(body, "name"), admin=change)
    return admin_response(org_json(org), status_code=201)


@router.get("")
async def list_orgs(admin: IdentityAdmin) -> JSONResponse:
    """List every org by name, with how many live tokens each holds."""
    orgs = await admin.list_orgs()
    return admin_response({"orgs": [org_json(org) for org in orgs]})
