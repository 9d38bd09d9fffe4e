"""Issuing access tokens to active users, and deciding whether a token is active.

A token is active when it verifies (`tokens.py`), its id is not blocklisted,
it was issued after its user's latest revocation, and the identity service
still has its user as ACTIVE (`users.py`, briefly cached). When Redis lost
the revocations, they are restored (`restore.py`) before a token is judged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from services.session_revocation import metrics
from services.session_revocation.errors import InvalidRequest, UserNotActive
from services.session_revocation.restore import RevocationRestorer
from services.session_revocation.revocations import parse_uuid
from services.session_revocation.roles import UserRoles
from services.session_revocation.store import SessionStore
from services.session_revocation.tokens import (
    AccessTokens,
    Reason,
    SignedToken,
    Verification,
)
from services.session_revocation.users import ACTIVE, UserStatuses

logger = logging.getLogger(__name__)

# Longest wait for a new second when a user was revoked in the current one.
_MAX_SECOND_WAIT = 1.1


class SessionService:
    """Issue and check the access tokens of Rivane users."""

    def __init__(
        self,
        *,
        tokens: AccessTokens,
        store: SessionStore,
        users: UserStatuses,
        default_ttl_seconds: int,
        max_ttl_seconds: int,
        roles: UserRoles | None = None,
        restorer: RevocationRestorer | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._tokens = tokens
        self._store = store
        self._users = users
        self._default_ttl = default_ttl_seconds
        self._max_ttl = max_ttl_seconds
        self._roles = roles
        self._restorer = restorer
        self._clock = clock
        self._sleep = sleep

    async def issue(
        self, *, org_id: str, user_id: str, ttl_seconds: int
    ) -> SignedToken:
        """Sign a token for an ACTIVE user of the org; raise `UserNotActive`."""
        org = str(parse_uuid(org_id, what="org_id"))
        user = str(parse_uuid(user_id, what="user_id"))
        if ttl_seconds < 0:
            raise InvalidRequest("ttl_seconds must not be negative")
        ttl = min(ttl_seconds or self._default_ttl, self._max_ttl)

        # Asked afresh: a user created or reactivated a moment ago gets a
        # token at once, and a deactivated one never does.
        if await self._users.status(org_id=org, user_id=user, fresh=True) != ACTIVE:
            raise UserNotActive("the user is not active")

        roles = (
            await self._roles.of(org_id=org, user_id=user)
            if self._roles is not None
            else []
        )
        now = await self._after_latest_revocation(org_id=org, user_id=user)
        signed = self._tokens.sign(
            org_id=org,
            user_id=user,
            issued_at=math.floor(now),
            ttl_seconds=ttl,
            roles=roles,
        )
        await self._store.record_issued(
            org_id=org,
            user_id=user,
            jti=signed.claims.jti,
            issued_at=now,
            expires_at=signed.claims.exp,
        )
        metrics.TOKENS_ISSUED.inc()
        logger.info(
            "issued token %s to user %s for %d s",
            signed.claims.jti,
            user,
            ttl,
            extra={"org_id": org},
        )
        return signed

    async def check(self, token: str) -> Verification:
        """Say whether `token` is active now and, when it is not, why."""
        verification = await self._check(token)
        result = "active" if verification.reason is None else str(verification.reason)
        metrics.TOKEN_CHECKS.labels(result=result).inc()
        if verification.reason is not None and verification.claims is not None:
            # A refusal of a token of ours is worth a line; a forgery is only
            # counted, so that it cannot flood the log.
            logger.info(
                "token %s of user %s refused: %s",
                verification.claims.jti,
                verification.claims.sub,
                verification.reason,
                extra={"org_id": verification.claims.org},
            )
        return verification

    async def _check(self, token: str) -> Verification:
        verification = self._tokens.verify(token, now=self._clock())
        claims = verification.claims
        if not verification.active or claims is None:
            return verification

        state = await self._store.token_state(
            org_id=claims.org, user_id=claims.sub, jti=claims.jti
        )
        if not state.restored and self._restorer is not None:
            # Redis lost its data: no token is judged before the revocation
            # times are back, or a revoked one would pass.
            await self._restorer.restore()
            state = await self._store.token_state(
                org_id=claims.org, user_id=claims.sub, jti=claims.jti
            )
        # Issued at or before the latest revocation, whether or not the token
        # was recorded as live then.
        revoked_before = state.revoked_after is not None and (
            claims.iat <= state.revoked_after
        )
        if state.blocklisted or revoked_before:
            return Verification(claims=claims, reason=Reason.REVOKED)

        if await self._users.status(org_id=claims.org, user_id=claims.sub) != ACTIVE:
            return Verification(claims=claims, reason=Reason.USER_NOT_ACTIVE)
        return verification

    async def _after_latest_revocation(self, *, org_id: str, user_id: str) -> float:
        """Return the time to issue at: in a later second than the last revocation.

        `iat` counts whole seconds (RFC 7519 §2 NumericDate), and a token
        issued in the second of a revocation reads as issued before it. That
        happens only when a user is reactivated within a second of losing
        access; waiting for the next second keeps the new token valid.
        """
        now = self._clock()
        revoked_after = await self._store.revoked_after(org_id=org_id, user_id=user_id)
        if revoked_after is None or math.floor(now) > revoked_after:
            return now
        wait = math.floor(revoked_after) + 1 - now
        await self._sleep(min(max(wait, 0.0), _MAX_SECOND_WAIT))
        return self._clock()
