"""Access tokens for other Rivane services: issue, introspect, publish the keys.

`POST /sessions` and `POST /oauth2/introspect` answer Rivane's own services
only: they need the internal credential (`settings.internal_token`) or the
admin credential. The JWK Set is public, so that anyone can verify a token's
signature; only introspection also says whether it was revoked.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.auth import authorization_of, bearer_token
from gateway.body import JsonObject, read_body
from gateway.errors import UnsupportedMediaType
from gateway.revocation import Revocation
from services.common.errors import InvalidSyntax, InvalidValue, Unauthorized

logger = logging.getLogger(__name__)

router = APIRouter(tags=["Sessions"])

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# An introspection request carries one token and a hint.
MAX_FORM_BYTES = 16 * 1024
NO_STORE = {"Cache-Control": "no-store"}
# The largest ttl_seconds the service's int32 field carries; it caps it lower.
MAX_TTL_SECONDS = 2**31 - 1


def require_internal(request: Request) -> None:
    """Let only Rivane services through: the internal or the admin credential."""
    presented = bearer_token(authorization_of(request)).encode("utf-8")
    accepted = [str(request.app.state.admin_token)]
    internal = request.app.state.settings.internal_token
    if internal:
        accepted.append(str(internal))
    # Every candidate is compared, so the time taken does not say which.
    matches = [hmac.compare_digest(presented, a.encode("utf-8")) for a in accepted]
    if not any(matches):
        raise Unauthorized("unknown internal credential")


def _text_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{name} must be a non-empty string")
    return value.strip()


@router.post("/sessions", status_code=201, dependencies=[Depends(require_internal)])
async def issue_session(body: JsonObject, revocation: Revocation) -> JSONResponse:
    """Issue an access token for an active user: `{"org_id", "user_id"}`.

    `ttl_seconds` is optional; the service caps it. A user who is not ACTIVE
    in the org gets 403.
    """
    ttl = body.get("ttl_seconds", 0)
    if not isinstance(ttl, int) or isinstance(ttl, bool):
        raise InvalidValue("ttl_seconds must be a non-negative integer")
    if not 0 <= ttl <= MAX_TTL_SECONDS:
        raise InvalidValue(f"ttl_seconds must be 0 to {MAX_TTL_SECONDS}")
    issued = await revocation.issue_token(
        org_id=_text_field(body, "org_id"),
        user_id=_text_field(body, "user_id"),
        ttl_seconds=ttl,
    )
    lifetime = issued.expires_at - issued.issued_at
    return JSONResponse(
        {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": int(lifetime.total_seconds()),
            "expires_at": issued.expires_at.isoformat(),
            "jti": issued.jti,
        },
        status_code=201,
        headers=NO_STORE,
    )


async def introspected_token(request: Request) -> str:
    """Read the `token` field of an RFC 7662 §2.1 form body."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != FORM_MEDIA_TYPE:
        raise UnsupportedMediaType(f"Content-Type must be {FORM_MEDIA_TYPE}")
    raw = await read_body(request, limit=MAX_FORM_BYTES)
    try:
        form = parse_qs(raw.decode("ascii"), strict_parsing=False)
    except UnicodeDecodeError as error:
        raise InvalidSyntax("the form is not URL-encoded ASCII") from error
    tokens = form.get("token", [])
    if len(tokens) != 1 or not tokens[0]:
        raise InvalidValue("the form must carry exactly one token")
    return tokens[0]


@router.post("/oauth2/introspect", dependencies=[Depends(require_internal)])
async def introspect(
    token: Annotated[str, Depends(introspected_token)], revocation: Revocation
) -> JSONResponse:
    """Say whether an access token is active (RFC 7662).

    An inactive token, whatever the reason, is answered with `{"active":
    false}` and nothing more (RFC 7662 §2.2); the reason is in the session
    revocation service's log and metrics.
    """
    check = await revocation.check_token(token)
    if not check.active:
        logger.debug("introspected an inactive token: %s", check.reason)
        return JSONResponse({"active": False}, headers=NO_STORE)
    return JSONResponse(
        {
            "active": True,
            "token_type": "Bearer",
            "sub": check.sub,
            "org": check.org,
            "jti": check.jti,
            "iss": check.iss,
            "iat": check.iat,
            "exp": check.exp,
            "roles": list(check.roles),
        },
        headers=NO_STORE,
    )


@router.get("/.well-known/jwks.json")
async def jwks(revocation: Revocation) -> JSONResponse:
    """Publish the public keys that verify access tokens (RFC 7517 §5)."""
    document = await revocation.jwks()
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})
