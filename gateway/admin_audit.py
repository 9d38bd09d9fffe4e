"""Admin API: read the admin audit log.

    GET /admin/audit?org=acme&action=REVOKE_TOKEN&limit=100&before=<time>

One row per admin change (orgs, SCIM tokens, admin credentials), written by
the identity service in the transaction of the change: when, which admin
credential, what, on which org and target, details without secrets, and the
request id.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from gateway.admin import require_admin
from gateway.admin_json import admin_response, iso, moment_field
from gateway.identity_admin import IdentityAdmin

router = APIRouter(
    prefix="/admin/audit", tags=["Admin"], dependencies=[Depends(require_admin)]
)


def entry_json(entry: Any) -> dict[str, Any]:
    """Render one admin audit row."""
    return {
        "audit_id": entry.audit_id,
        "occurred_at": iso(entry, "occurred_at"),
        "actor": {"credential_id": entry.actor_credential_id, "name": entry.actor_name},
        "action": entry.action,
        "org_id": entry.org_id or None,
        "org": entry.org_name or None,
        "target": entry.target,
        "details": json.loads(entry.details_json or "{}"),
        "request_id": entry.request_id,
    }


@router.get("")
async def list_admin_audit(
    admin: IdentityAdmin,
    org: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[str, Query(max_length=64)] = "",
) -> JSONResponse:
    """List admin actions, newest first, by org and action.

    `before` (RFC 3339) pages back: pass the `occurred_at` of the last row seen.
    """
    entries = await admin.list_admin_audit(
        org_name=org,
        action=action,
        limit=limit,
        before=moment_field({"before": before or None}, "before"),
    )
    return admin_response({"entries": [entry_json(entry) for entry in entries]})
