"""The error log as admins read it: filters in, plain dicts out.

Shared by the admin API (`/admin/errors`, `/admin/client-errors`) and the
admin web page, so both take the same filters and show the same fields. Orgs
are named by name on the way in and shown with both id and name on the way
out; kinds and states are lower-case words.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.admin import AdminCaller
from gateway.admin_json import iso, moment_field
from gateway.error_tracker import (
    ClientErrorFilter,
    ErrorFilter,
    kind_of,
    kind_word,
    state_of,
    state_word,
)
from gateway.identity import IdentityClient
from gateway.identity_admin import IdentityAdminClient
from services.common.errors import InvalidValue

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_SCIM_TYPE = re.compile(r"[A-Za-z]{1,64}")


async def org_id_of(identity: IdentityClient, name: str) -> str:
    """Return the id of the org called `name`; "" for no org; 404 if unknown."""
    if not name.strip():
        return ""
    return str((await identity.get_org(name=name.strip())).org_id)


async def org_names(admin: IdentityAdminClient) -> dict[str, str]:
    """Return every org's name by its id."""
    return {str(org.org_id): str(org.name) for org in await admin.list_orgs()}


def error_filter(
    *,
    org_id: str,
    kind: str,
    state: str,
    since: str,
    until: str,
    limit: int,
    page_token: str,
) -> ErrorFilter:
    """Return the filter of an error listing; 400 on an unknown kind or state."""
    return ErrorFilter(
        org_id=org_id,
        kind=kind_of(kind),
        state=state_of(state),
        since=moment_field({"since": since or None}, "since"),
        until=moment_field({"until": until or None}, "until"),
        limit=_limit(limit),
        page_token=page_token,
    )


def client_error_filter(
    *,
    org_id: str,
    status: int,
    scim_type: str,
    since: str,
    until: str,
    limit: int,
    page_token: str,
) -> ClientErrorFilter:
    """Return the filter of a client-error listing."""
    if status and not 400 <= status < 500:
        raise InvalidValue("status must be a 4xx code")
    scim_type = scim_type.strip()
    # RFC 7644 §3.12: a scimType is one word, such as uniqueness or tooMany.
    if scim_type and not _SCIM_TYPE.fullmatch(scim_type):
        raise InvalidValue("scim_type must be one word, such as uniqueness")
    return ClientErrorFilter(
        org_id=org_id,
        status=status,
        scim_type=scim_type,
        since=moment_field({"since": since or None}, "since"),
        until=moment_field({"until": until or None}, "until"),
        limit=_limit(limit),
        page_token=page_token,
    )


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidValue(f"limit must be 1 to {MAX_LIMIT}")
    return limit


def actor_of(caller: AdminCaller) -> str:
    """Return how the history names an admin credential: "id name"."""
    return f"{caller.credential_id} {caller.name}"


def error_json(record: Any, names: dict[str, str]) -> dict[str, Any]:
    """Render one error of the log."""
    operation = record.operation
    try:
        request = json.loads(operation.request_json) if operation.request_json else None
    except ValueError:
        request = operation.request_json
    return {
        "error_id": record.error_id,
        "org_id": record.org_id,
        "org": names.get(record.org_id),
        "kind": kind_word(record.kind),
        "state": state_word(record.state),
        "reason_code": record.reason_code,
        "reason": record.reason,
        "subject": {"type": record.subject_type, "id": record.subject_id},
        "operation": {
            "method": operation.method,
            "summary": operation.summary,
            "request": request,
        },
        "first_seen": iso(record, "first_seen"),
        "last_seen": iso(record, "last_seen"),
        "occurrences": record.occurrences,
        "attempts": record.attempts,
        "next_attempt_at": iso(record, "next_attempt_at"),
        "last_retried_by": record.last_retried_by or None,
        "last_retried_at": iso(record, "last_retried_at"),
        "resolved_at": iso(record, "resolved_at"),
        "resolved_by": record.resolved_by or None,
        "dedup_key": record.dedup_key,
        "request_id": record.request_id,
        "trace_id": record.trace_id,
        "source": record.source,
    }


def attempt_json(attempt: Any) -> dict[str, Any]:
    """Render one attempt of an error's history."""
    return {
        "number": attempt.number,
        "trigger": attempt.trigger,
        "actor": attempt.actor,
        "started_at": iso(attempt, "started_at"),
        "finished_at": iso(attempt, "finished_at"),
        "outcome": state_word(attempt.outcome),
        "status_code": attempt.status_code,
        "detail": attempt.detail,
        "request_id": attempt.request_id,
    }


def retry_json(result: Any, names: dict[str, str]) -> dict[str, Any]:
    """Render the outcome of retrying one error."""
    if not result.found:
        return {"error_id": result.error_id, "found": False}
    return {
        "error_id": result.error_id,
        "found": True,
        "error": error_json(result.error, names),
        "attempt": attempt_json(result.attempt) if result.HasField("attempt") else None,
    }


def client_error_json(error: Any, names: dict[str, str]) -> dict[str, Any]:
    """Render one client error of the stream."""
    return {
        "client_error_id": error.client_error_id,
        "org_id": error.org_id,
        "org": names.get(error.org_id),
        "status": error.status,
        "scim_type": error.scim_type or None,
        "detail": error.detail,
        "method": error.method,
        "path": error.path,
        "request_id": error.request_id,
        "occurred_at": iso(error, "occurred_at"),
    }
