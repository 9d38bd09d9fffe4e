"""Admin reads of an org and of a user's audit chain.

The chain of each change reads: SCIM request arrived -> state changed ->
event published -> access revoked, each with its time, joined by the event
id that the identity service's audit row, the Kafka event and the revocation
record share.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.admin import require_admin
from gateway.identity import Identity
from gateway.revocation import Revocation
from services.common.errors import NotFound, clipped

router = APIRouter(
    prefix="/admin", tags=["Admin"], dependencies=[Depends(require_admin)]
)


def _iso(message: Any, field: str) -> str | None:
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return str(stamp.ToDatetime().isoformat(timespec="milliseconds")) + "Z"


@router.get("/orgs/{org}")
async def get_org(org: str, identity: Identity) -> JSONResponse:
    """Return an org's id by its name."""
    found = await identity.get_org(name=org)
    return JSONResponse({"org_id": found.org_id, "name": found.name})


@router.get("/orgs/{org}/users/{user_id}/audit")
async def user_audit(
    org: str, user_id: str, identity: Identity, revocation: Revocation
) -> JSONResponse:
    """Return every change of a user, deprovisioned or not, with its chain.

    A user the org never had is a 404.

    Each entry has the request's arrival, the state change, the event's
    publication, and for a deactivation or deletion the revocation of the
    user's tokens: when it completed, by which path (`direct` or `kafka`),
    how many tokens it revoked, and its latency from the request's arrival.
    """
    found = await identity.get_org(name=org)
    entries = await identity.list_user_audit(org_id=found.org_id, user_id=user_id)
    if not entries:
        # Every user of the org has at least its provisioning row: an empty
        # chain would read as "nothing happened" for an id it never had.
        raise NotFound(f"User {clipped(user_id)} not found in org {org!r}")
    revocations = {
        r.event_id: r
        for r in await revocation.list_revocations(org_id=found.org_id, user_id=user_id)
    }

    changes = []
    for entry in entries:
        revoked = revocations.get(entry.event_id)
        changes.append(
            {
                "event_id": entry.event_id,
                "action": entry.action,
                "version": entry.version,
                "request_id": entry.request_id,
                "source": entry.source or None,
                "token_id": entry.token_id or None,
                "before": json.loads(entry.before_json) if entry.before_json else None,
                "after": json.loads(entry.after_json) if entry.after_json else None,
                "request_received_at": _iso(entry, "request_received_at"),
                "state_changed_at": _iso(entry, "occurred_at"),
                "event_topic": entry.topic,
                "event_published_at": _iso(entry, "published_at"),
                "revocation": None if revoked is None else _revocation(revoked),
            }
        )
    return JSONResponse(
        {"org_id": found.org_id, "user_id": user_id, "changes": changes}
    )


def _revocation(revoked: Any) -> dict[str, Any]:
    return {
        "completed_at": _iso(revoked, "completed_at"),
        "source": revoked.source,
        "tokens_revoked": revoked.tokens_revoked,
        "latency_ms": revoked.latency_ms,
    }
