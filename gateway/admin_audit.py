"""Admin API: read the admin audit log.

    GET /admin/audit?org=acme&action=REVOKE_TOKEN&limit=100&before=<time>

One row per admin change (orgs, SCIM tokens, admin credentials, schema
extensions), written by the identity service in the transaction of the
change: when, which admin credential, what, on which org and target, details
without secrets, and the request id.

Beside them, from the services that keep them in the transaction of the
change: `RETRY_ERROR`, each retry an admin asked of the error log with its
outcome (error tracker), and `MAP_ROLE` / `UNMAP_ROLE`, each role mapping
set or removed with the roles before and after (group-mapping). The sources
are merged newest first; `before` pages back through all of them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from gateway.admin import require_admin
from gateway.admin_json import admin_response, iso, moment_field
from gateway.error_tracker import ErrorTracker, kind_word, state_word, timestamp
from gateway.error_views import org_id_of, org_names
from gateway.group_mapping import GroupMapping
from gateway.identity import Identity
from gateway.identity_admin import IdentityAdmin
from services.common.errors import InvalidValue

RETRY_ERROR = "RETRY_ERROR"
# Role mappings, kept in the group-mapping service's audit trail.
ROLE_ACTIONS = ("MAP_ROLE", "UNMAP_ROLE")

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


def retry_entry(retry: Any, names: dict[str, str]) -> dict[str, Any]:
    """Render an admin's retry of an error as an admin audit row."""
    attempt = retry.attempt
    # The error tracker names the admin as "credential-id name".
    credential_id, _, name = attempt.actor.partition(" ")
    return {
        "audit_id": f"{retry.error_id}/{attempt.number}",
        "occurred_at": iso(attempt, "finished_at"),
        "actor": {"credential_id": credential_id, "name": name},
        "action": RETRY_ERROR,
        "org_id": retry.org_id or None,
        "org": names.get(retry.org_id),
        "target": f"error {retry.error_id}",
        "details": {
            "error_id": retry.error_id,
            "kind": kind_word(retry.kind),
            "subject_type": retry.subject_type or None,
            "subject_id": retry.subject_id or None,
            "attempt": attempt.number,
            "started_at": iso(attempt, "started_at"),
            "outcome": state_word(attempt.outcome),
            "status_code": attempt.status_code,
            "detail": attempt.detail,
        },
        "request_id": attempt.request_id,
    }


def role_change_entry(
    change: Any, orgs: dict[str, str], credentials: dict[str, str]
) -> dict[str, Any]:
    """Render a role mapping set or removed as an admin audit row."""
    credential_id = change.admin_credential_id or None
    return {
        "audit_id": change.audit_id,
        "occurred_at": iso(change, "occurred_at"),
        "actor": {
            "credential_id": credential_id,
            "name": credentials.get(change.admin_credential_id),
        },
        "action": change.action,
        "org_id": change.org_id or None,
        "org": orgs.get(change.org_id),
        "target": f"group {change.display_name or change.group_id}",
        "details": {
            "group_id": change.group_id,
            "group": change.display_name or None,
            "roles_before": list(change.roles_before),
            "roles_after": list(change.roles_after),
        },
        "request_id": change.request_id,
    }


def _moment(stamp: Any) -> tuple[int, int]:
    return (stamp.seconds, stamp.nanos)


@router.get("")
async def list_admin_audit(
    admin: IdentityAdmin,
    identity: Identity,
    tracker: ErrorTracker,
    groups: GroupMapping,
    org: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[str, Query(max_length=64)] = "",
) -> JSONResponse:
    """List admin actions, newest first, by org and action.

    `before` (RFC 3339) pages back: pass the `occurred_at` of the last row seen.
    """
    moment = moment_field({"before": before or None}, "before")
    org_id = await org_id_of(identity, org)
    rows: list[tuple[tuple[int, int], dict[str, Any]]] = []
    if action not in (RETRY_ERROR, *ROLE_ACTIONS):
        try:
            entries = await admin.list_admin_audit(
                org_name=org, action=action, limit=limit, before=moment
            )
        except InvalidValue as error:
            if "action" not in error.detail:
                raise
            # The identity service names its own actions only.
            others = ", ".join((RETRY_ERROR, *ROLE_ACTIONS))
            raise InvalidValue(f"{error.detail}, or one of {others}") from error
        rows += [(_moment(entry.occurred_at), entry_json(entry)) for entry in entries]
    retries = (
        await tracker.list_admin_retries(org_id=org_id, limit=limit, before=moment)
        if action in ("", RETRY_ERROR)
        else []
    )
    changes = (
        await groups.list_role_mapping_changes(
            org_id=org_id, action=action, limit=limit, before=timestamp(moment)
        )
        if action in ("", *ROLE_ACTIONS)
        else []
    )
    # Their rows name orgs and credentials by id: both are looked up once.
    names = await org_names(admin) if retries or changes else {}
    rows += [
        (_moment(retry.attempt.finished_at), retry_entry(retry, names))
        for retry in retries
    ]
    if changes:
        credentials = {
            str(item.credential_id): str(item.name)
            for item in await admin.list_admin_credentials()
        }
        rows += [
            (_moment(change.occurred_at), role_change_entry(change, names, credentials))
            for change in changes
        ]
    rows.sort(key=lambda row: row[0], reverse=True)
    return admin_response({"entries": [entry for _, entry in rows[:limit]]})
