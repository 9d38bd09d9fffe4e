"""Bearer authentication of SCIM clients (RFC 6750 §2.1), and their rate limits.

The org of every SCIM request comes from the token that authenticated it,
never from the request itself. A token that is not a well-formed Rivane SCIM
token is refused without a lookup; a known one is resolved through the
replica's token cache, and its expiry checked on every request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from opentelemetry import trace

from gateway.identity import Identity, TokenOwner
from gateway.rate_limits import RateLimiter
from gateway.token_cache import TokenCache
from services.common.bearer_tokens import CredentialKind, is_well_formed
from services.common.errors import ScimError, Unauthorized

# Longer than any token we issue; anything bigger is not worth a round trip.
MAX_TOKEN_LENGTH = 512


def bearer_token(authorization: str | None) -> str:
    """Return the secret of an `Authorization: Bearer` header."""
    if authorization is None or not authorization.strip():
        raise Unauthorized("a bearer token is required")

    # RFC 7235 §2.1: the scheme name is case-insensitive.
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    if len(token) > MAX_TOKEN_LENGTH or any(char.isspace() for char in token):
        raise Unauthorized("the bearer token is malformed")
    return token


def authorization_of(request: Request) -> str | None:
    """Return the request's Authorization header, refusing more than one.

    RFC 9110 §11.6.2 gives a request one set of credentials; two headers could
    name two orgs, and a proxy in front might have checked the other one.
    """
    values = request.headers.getlist("authorization")
    if len(values) > 1:
        raise Unauthorized("send one Authorization header, not several")
    return values[0] if values else None


async def scim_caller(request: Request, identity: Identity) -> TokenOwner:
    """Authenticate the request; return the org and token it acts for."""
    token = bearer_token(authorization_of(request))
    # A mistyped, truncated or invented token costs no call.
    if not is_well_formed(token, kind=CredentialKind.SCIM):
        raise Unauthorized("the bearer token is malformed")

    cache: TokenCache = request.app.state.token_cache
    try:
        owner = await cache.owner_of(token, resolve=identity.resolve_token)
    except ScimError as exc:
        if exc.status >= 500:
            raise
        # Whatever the service thought of the token, the client sees a 401.
        raise Unauthorized("unknown, revoked or expired bearer token") from exc
    # The cached answer may outlive the token's expiry; the expiry may not.
    if owner.expires_at is not None and owner.expires_at <= datetime.now(UTC):
        raise Unauthorized("the bearer token has expired")

    request.state.org_id = owner.org_id
    trace.get_current_span().set_attribute("rivane.org_id", owner.org_id)
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.admit(owner.token_id)
    return owner


ScimCaller = Annotated[TokenOwner, Depends(scim_caller)]
