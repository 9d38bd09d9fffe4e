"""Admin API for operators and `scimctl`: issue org-scoped SCIM tokens.

It is guarded by one admin credential: `settings.admin_token`, else the
content of `settings.admin_token_file`. In the "dev" environment a missing
credential is generated into that file; anywhere else the gateway refuses to
start without one.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.auth import authorization_of, bearer_token
from gateway.body import check_content_type, parse_object, read_body
from gateway.identity import Identity
from services.common.errors import InvalidValue, Unauthorized
from services.common.settings import StackSettings

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", tags=["Admin"])

ADMIN_TOKEN_PREFIX = "rvnadm_"


class AdminTokenMissing(RuntimeError):
    """No admin credential is configured outside the "dev" environment."""


def load_admin_token(settings: StackSettings) -> str:
    """Return the admin credential, generating a local one in "dev"."""
    if settings.admin_token:
        return settings.admin_token

    path = Path(settings.admin_token_file)
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token

    if settings.environment != "dev":
        raise AdminTokenMissing(
            "set RIVANE_ADMIN_TOKEN or RIVANE_ADMIN_TOKEN_FILE outside the dev "
            "environment"
        )
    return _generate_local_token(path)


def _generate_local_token(path: Path) -> str:
    token = ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by its owner only, from the moment it exists.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    logger.info("generated the local admin credential in %s", path)
    return token


def require_admin(request: Request) -> None:
    """Let only holders of the admin credential through."""
    presented = bearer_token(authorization_of(request)).encode("utf-8")
    expected = str(request.app.state.admin_token).encode("utf-8")
    if not hmac.compare_digest(presented, expected):
        raise Unauthorized("unknown admin token")


async def token_description(request: Request) -> str:
    """Read the optional `{"description": ...}` body of a token request."""
    raw = await read_body(request)
    if not raw.strip():
        return ""
    check_content_type(request.headers.get("content-type"))
    description = parse_object(raw).get("description", "")
    if not isinstance(description, str):
        raise InvalidValue("description must be a string")
    return description


@router.post(
    "/orgs/{org}/tokens",
    status_code=201,
    dependencies=[Depends(require_admin)],
)
async def create_token(
    org: str,
    identity: Identity,
    description: Annotated[str, Depends(token_description)],
) -> JSONResponse:
    """Issue a SCIM bearer token for an org, creating the org when it is new.

    The token is in this answer only; the service keeps its hash.
    """
    issued = await identity.create_token(org_name=org, description=description)
    body: dict[str, Any] = {
        "org_id": issued.org_id,
        "token_id": issued.token_id,
        "token": issued.token,
    }
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})
